/** `campaign start --match key=value` and `--addresses-file`: every key, and bad input as clear usage errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { campaignFilter, MATCH_KEYS, parseAddressesFile, parseMatches } from '../../../clients/cli/campaignMatch.js';
import { parseDurationText } from '../../../clients/cli/commands/campaign.js';
import { UsageError } from '../../../clients/cli/context.js';

/** The UsageError `fn` throws: its message matches `message`, and it has a remedy. */
function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, message);
    assert.ok((e.decoded.remedy ?? '') !== '', `no remedy for: ${e.message}`);
    return true;
  });
}

describe('campaign start --match', () => {
  it('takes every key into its CampaignFilter field', () => {
    const f = parseMatches([
      'name=SENSOR-7',
      'name-prefix=SENSOR-',
      'service=fe59',
      'mfr=0x0059:01aB',
      'min-rssi=-70',
      'address=aa:bb:cc:dd:ee:01',
      'address=AA:BB:CC:DD:EE:02',
    ]);
    assert.equal(f.name, 'SENSOR-7');
    assert.equal(f.namePrefix, 'SENSOR-');
    assert.equal(f.serviceUuid, 'FE59');
    assert.equal(f.manufacturerId, 0x59);
    assert.deepEqual([...f.manufacturerDataPrefix], [0x01, 0xab]);
    assert.equal(f.minRssi, -70);
    assert.deepEqual(f.addresses, ['AA:BB:CC:DD:EE:01', 'AA:BB:CC:DD:EE:02']);
    assert.deepEqual([...MATCH_KEYS].sort(), ['address', 'mfr', 'min-rssi', 'name', 'name-prefix', 'service']);
  });

  it('takes a decimal company id without a data prefix, a 128-bit service UUID, and a name holding "="', () => {
    const f = parseMatches(['mfr=89', 'service=6e400001-b5a3-f393-e0a9-e50e24dcca9e', 'name=a=b']);
    assert.equal(f.manufacturerId, 89);
    assert.equal(f.manufacturerDataPrefix.length, 0);
    assert.equal(f.serviceUuid, '6E400001-B5A3-F393-E0A9-E50E24DCCA9E');
    assert.equal(f.name, 'a=b');
  });

  it('leaves unset what no --match names', () => {
    const f = parseMatches(['name-prefix=X']);
    assert.equal(f.manufacturerId, undefined);
    assert.equal(f.minRssi, undefined);
    assert.equal(f.name, '');
    assert.deepEqual(f.addresses, []);
  });

  it('refuses bad input with the flag, what is wrong, and a remedy', () => {
    usage(() => parseMatches(['name-prefix']), /--match "name-prefix": not key=value/);
    usage(() => parseMatches(['=x']), /not key=value/);
    usage(() => parseMatches(['colour=red']), /unknown key "colour"/);
    usage(() => parseMatches(['name=']), /name is empty/);
    usage(() => parseMatches([`name=${'x'.repeat(249)}`]), /longer than 248 bytes/);
    usage(() => parseMatches(['name-prefix=A', 'name-prefix=B']), /name-prefix is given twice/);
    usage(() => parseMatches(['service=FE5']), /not a service UUID/);
    usage(() => parseMatches(['service=0xFE59']), /not a service UUID/);
    usage(() => parseMatches(['mfr=nordic']), /company id "nordic"/);
    usage(() => parseMatches(['mfr=0x10000']), /0 to 65535/);
    usage(() => parseMatches(['mfr=65536']), /0 to 65535/);
    usage(() => parseMatches(['mfr=0x0059:abc']), /not whole bytes of hex/);
    usage(() => parseMatches(['mfr=0x0059:zz']), /not whole bytes of hex/);
    usage(() => parseMatches([`mfr=0x0059:${'00'.repeat(28)}`]), /longer than 27 bytes/);
    usage(() => parseMatches(['mfr=1:00:00']), /more than one ":"/);
    usage(() => parseMatches(['min-rssi=-128']), /-127 to 20/);
    usage(() => parseMatches(['min-rssi=21']), /-127 to 20/);
    usage(() => parseMatches(['min-rssi=-70.5']), /whole number/);
    usage(() => parseMatches(['min-rssi=']), /min-rssi ""/);
    usage(() => parseMatches(['address=AA:BB:CC:DD:EE']), /not a device address/);
    usage(() => parseMatches(['address=AABBCCDDEEFF']), /not a device address/);
  });
});

describe('campaign start --addresses-file', () => {
  it('reads one address a line, skipping blank lines and # comments; an error names the line', () => {
    assert.deepEqual(parseAddressesFile('f.txt', '# rack 1\naa:bb:cc:dd:ee:01\n\n  AA:BB:CC:DD:EE:02  # top shelf\r\n'), ['AA:BB:CC:DD:EE:01', 'AA:BB:CC:DD:EE:02']);
    usage(() => parseAddressesFile('f.txt', 'AA:BB:CC:DD:EE:01\nnot-an-address\n'), /f\.txt line 2: "not-an-address" is not a device address/);
  });

  it('adds the file to the --match addresses (each once); a filter of nothing is refused; at most 1024 addresses', () => {
    const f = campaignFilter(parseMatches(['address=AA:BB:CC:DD:EE:01']), ['AA:BB:CC:DD:EE:01', 'AA:BB:CC:DD:EE:02']);
    assert.deepEqual(f.addresses, ['AA:BB:CC:DD:EE:01', 'AA:BB:CC:DD:EE:02']);
    usage(() => campaignFilter(parseMatches([]), []), /a campaign needs a filter/);
    const many = Array.from({ length: 1025 }, (_, i) => `AA:BB:CC:DD:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`.toUpperCase());
    usage(() => campaignFilter(parseMatches([]), many), /1025 addresses given; a campaign takes at most 1024/);
    assert.equal(campaignFilter(parseMatches(['min-rssi=-60']), []).minRssi, -60, 'any one field is a filter');
  });
});

describe('campaign start --retry-delay / --for', () => {
  it('reads ms, s, m, h, d and plain seconds; refuses other text and values past the bound', () => {
    assert.deepEqual(parseDurationText('--for', '2h', 7 * 86_400), { seconds: 7200, nanos: 0 });
    assert.deepEqual(parseDurationText('--for', '1.5m', 7 * 86_400), { seconds: 90, nanos: 0 });
    assert.deepEqual(parseDurationText('--retry-delay', '500ms', 3600), { seconds: 0, nanos: 500_000_000 });
    assert.deepEqual(parseDurationText('--retry-delay', '5', 3600), { seconds: 5, nanos: 0 });
    assert.deepEqual(parseDurationText('--for', '7d', 7 * 86_400), { seconds: 604_800, nanos: 0 });
    assert.equal(parseDurationText('--for', undefined, 1), undefined);
    usage(() => parseDurationText('--retry-delay', '2h', 3600), /--retry-delay "2h" is not a duration from 0 to 1:00:00/);
    usage(() => parseDurationText('--for', 'soon', 7 * 86_400), /--for "soon"/);
    usage(() => parseDurationText('--for', '-5s', 7 * 86_400), /--for "-5s"/);
  });
});
