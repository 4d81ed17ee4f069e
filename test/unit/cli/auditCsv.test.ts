/** `bledfu audit --csv` and `--label`: the CSV's columns and quoting, and the parsing of key=value flags. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditRecord, AuditResult, DfuProtocol, ImageType } from '../../../clients/ts/index.js';
import { AUDIT_CSV_COLUMNS, auditCsv } from '../../../clients/cli/commands/auditCsv.js';
import { csvField } from '../../../clients/cli/csv.js';
import { formatLabels, parseLabels } from '../../../clients/cli/labels.js';

const record = (over: Partial<AuditRecord>): AuditRecord => ({
  ...AuditRecord.fromPartial({
    jobId: 'j1',
    adapterId: 'sim0',
    deviceAddress: 'F0:00:00:00:00:01',
    packageSha256: 'ab',
    images: [{ type: ImageType.IMAGE_TYPE_APPLICATION, size: 10, fwVersion: 7, sdReq: [], sha256: 'cd' }],
    startedAt: new Date('2026-01-01T00:00:00Z'),
    endedAt: new Date('2026-01-01T00:00:12.5Z'),
    duration: { seconds: 12, nanos: 500_000_000 },
    result: AuditResult.AUDIT_RESULT_FAILED,
    errorCode: 'DFU_REMOTE_ERROR',
  }),
  ...over,
});

describe('bledfu audit --csv', () => {
  it('quotes fields with a comma, a quote or a line break, and only those', () => {
    assert.deepEqual(['plain', 'a,b', 'say "hi"', 'two\nlines', ''].map(csvField), ['plain', '"a,b"', '"say ""hi"""', '"two\nlines"', '']);
  });

  it('keeps a cell a spreadsheet would run as a formula as text (a leading apostrophe); plain numbers stay numbers', () => {
    assert.deepEqual(
      ['=HYPERLINK("http://x")', '+cmd', '-2+3', '@SUM(A1)', '\tx', '-70', '+1.5', '12', 'a=b'].map(csvField),
      [`"'=HYPERLINK(""http://x"")"`, "'+cmd", "'-2+3", "'@SUM(A1)", "'\tx", '-70', '+1.5', '12', 'a=b'],
    );
  });

  it('writes the fixed columns, then one column per label key of any listed job (sorted); with several servers a server column first', () => {
    const lines = auditCsv(
      [
        { server: 'a:1', record: record({ labels: { serial: 'SN-1', work_order: 'WO,7' }, protocol: DfuProtocol.DFU_PROTOCOL_LEGACY }) },
        { server: 'b:2', record: record({ jobId: 'j2', result: AuditResult.AUDIT_RESULT_RUNNING, endedAt: undefined, duration: undefined, errorCode: '', labels: { operator: 'ana' } }) },
      ],
      true,
    );
    assert.deepEqual(lines, [
      ['server', ...AUDIT_CSV_COLUMNS, 'label.operator', 'label.serial', 'label.work_order'].join(','),
      'a:1,j1,2026-01-01T00:00:00.000Z,2026-01-01T00:00:12.500Z,12.500,failed,DFU_REMOTE_ERROR,F0:00:00:00:00:01,,sim0,application v7,ab,,,,,,,,,,legacy,,SN-1,"WO,7"',
      'b:2,j2,2026-01-01T00:00:00.000Z,,,running,,F0:00:00:00:00:01,,sim0,application v7,ab,,,,,,,,,,,ana,,',
    ]);
    assert.deepEqual(auditCsv([], false), [AUDIT_CSV_COLUMNS.join(',')], 'no records: the header alone');
  });

  it("carries the device's Device Information: serial, model, revisions, manufacturer (quoted where they need it)", () => {
    const deviceInfo = { manufacturer: 'ACME, Inc.', model: 'M1', serialNumber: 'SN-42', hardwareRevision: 'hw 3', firmwareRevision: 'app v1', softwareRevision: 's140' };
    const [header, line] = auditCsv([{ record: record({ firmwareRevision: 'app v2', deviceInfo }) }], false);
    const columns = header?.split(',') ?? [];
    assert.deepEqual(columns.slice(columns.indexOf('serial_number'), columns.indexOf('manufacturer') + 1), ['serial_number', 'model', 'hardware_revision', 'firmware_revision_before', 'software_revision', 'manufacturer']);
    assert.ok(line?.endsWith(',app v2,,SN-42,M1,hw 3,app v1,s140,"ACME, Inc.",,'), line);
  });

  it("names each job's DFU protocol in the protocol column: secure, legacy, empty for a record of an older server", () => {
    const [header, ...lines] = auditCsv(
      [
        { record: record({ protocol: DfuProtocol.DFU_PROTOCOL_SECURE }) },
        { record: record({ jobId: 'j2', protocol: DfuProtocol.DFU_PROTOCOL_LEGACY }) },
        { record: record({ jobId: 'j3' }) },
      ],
      false,
    );
    const at = header?.split(',').indexOf('protocol') ?? -1;
    assert.ok(at >= 0, header);
    assert.deepEqual(
      lines.map((l) => l.split(',')[at]),
      ['secure', 'legacy', ''],
    );
  });

  it('names the campaign that started each job in campaign_id (empty for a job of its own)', () => {
    const [header, ofCampaign, own] = auditCsv([{ record: record({ campaignId: 'c-1' }) }, { record: record({ jobId: 'j2' }) }], false);
    const at = header?.split(',').indexOf('campaign_id') ?? -1;
    assert.ok(at >= 0, header);
    assert.equal(ofCampaign?.split(',')[at], 'c-1');
    assert.equal(own?.split(',')[at], '');
  });
});

describe('--label key=value', () => {
  it('splits at the first =, keeps empty values, refuses a pair without a key or given twice', () => {
    assert.deepEqual(parseLabels('--label', ['serial=SN-1', 'expr=a=b', 'note=']), { serial: 'SN-1', expr: 'a=b', note: '' });
    assert.deepEqual(parseLabels('--label', undefined), {});
    assert.throws(() => parseLabels('--label', ['=x']), /--label "=x" is not key=value/);
    assert.throws(() => parseLabels('--label', ['serial']), /--label "serial" is not key=value/);
    assert.throws(() => parseLabels('--label', ['a=1', 'a=2']), /--label a is given twice/);
  });

  it('prints labels sorted, quoting a value that is empty or holds a space, a quote or =', () => {
    assert.equal(formatLabels({ work_order: 'WO-7', serial: 'SN-1', note: 'rack 3', empty: '', expr: 'a=b' }), 'empty="" expr="a=b" note="rack 3" serial=SN-1 work_order=WO-7');
  });
});
