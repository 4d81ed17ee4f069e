/**
 * Issue 12 item 4 and "durations are validated", through gRPC on the accelerated simulator: every
 * request string has a bound (README "Request limits"), every duration a range, and a refusal is
 * INVALID_ARGUMENT naming the field, its size and the bound while echoing at most a short prefix.
 * A 56 MiB Target.name is refused with a short message, the call ends and the connection keeps
 * answering, and neither the server's log nor its audit log holds a long string. Nothing refused
 * reaches the radio or becomes a job.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createChannel, createClient } from 'nice-grpc';
import { pino } from 'pino';
import { decodeError, Status, type DecodedError } from '../../clients/ts/index.js';
import type { Target } from '../../proto/gen/bledfu/v1/common.js';
import type { JobResult, StartDfuRequest } from '../../proto/gen/bledfu/v1/dfu.js';
import type { ScanRequest } from '../../proto/gen/bledfu/v1/scan.js';
import { AuditLog } from '../../server/audit/log.js';
import { ReflectionV1Definition, type ReflectionRequest, type ReflectionResponse } from '../../server/rpc/reflection.js';
import { STRING_LIMITS } from '../../server/rpc/validate.js';
import { projectZip } from '../helpers/project-packages.js';
import { startSimServer, type SimServer } from '../helpers/sim-server.js';

const MiB = 1024 * 1024;
/** Longest log or audit line this test accepts: a line may quote client input, never hold it. */
const MAX_LINE = 4096;

const nameTarget = (name: string): Target => ({ selector: { $case: 'name', name } });
const addressTarget = (value: string): Target => ({ selector: { $case: 'address', address: { value, type: 0 } } });
const SCAN: ScanRequest = { adapterId: '', filter: undefined, duration: undefined, allowDuplicates: false, active: false };

describe('request bounds through gRPC', () => {
  let s: SimServer;
  let audit: AuditLog;
  let dir: string;
  let pkg: Buffer;
  const logLines: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bledfu-bounds-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    // bledfud's default request limit (64 MiB), so a 56 MiB name reaches the handler.
    s = await startSimServer({}, { maxRequestBytes: 64 * MiB }, { kind: 'hci' }, { logger, audit });
    pkg = Buffer.from(await projectZip('app-small'));
  });
  after(async () => {
    await s.close();
    audit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dfu = (over: Partial<StartDfuRequest>): StartDfuRequest => ({
    package: { $case: 'packageData', packageData: pkg },
    target: addressTarget(s.device().address.value),
    adapterId: '',
    options: undefined,
    captureHci: false,
    labels: {},
    ...over,
  });

  /** The call's failure; a call that hangs ends by the signal and fails the code assertion. */
  async function failure(call: (signal: AbortSignal) => Promise<unknown> | AsyncIterable<unknown>): Promise<DecodedError> {
    const signal = AbortSignal.timeout(20_000);
    try {
      const r = call(signal);
      if (Symbol.asyncIterator in r) for await (const _ of r) void _;
      else await r;
    } catch (e) {
      return decodeError(e);
    }
    assert.fail('the call succeeded');
  }

  function assertRefused(d: DecodedError, field: string, size: number, bound: number): void {
    assert.equal(d.grpcCode, Status.INVALID_ARGUMENT, `${d.code}: ${d.message}`);
    assert.equal(d.code, 'INVALID_ARGUMENT');
    assert.match(d.message, new RegExp(`^${field.replace(/\./g, '\\.')} is ${size} bytes long \\(".*"…?\\); the limit is ${bound} bytes$`));
    assert.ok(d.message.length < 200, `message of ${d.message.length} characters: ${d.message.slice(0, 300)}`);
    assert.ok(d.remedy !== undefined && d.remedy.length > 0);
  }

  it('refuses a 56 MiB target name with a short message; the call ends and the connection keeps answering', { timeout: 60_000 }, async () => {
    const huge = 'A'.repeat(56 * MiB);
    const d = await failure((signal) => s.client.startDfu(dfu({ target: nameTarget(huge) }), { signal }));
    assertRefused(d, 'target.name', 56 * MiB, STRING_LIMITS.deviceName);
    assert.ok(d.message.includes(`"${'A'.repeat(32)}"…`), d.message);
    // The same channel answers at once: the status went out and the connection is not stuck.
    const { adapters } = await s.client.listAdapters({}, { signal: AbortSignal.timeout(10_000) });
    assert.equal(adapters.length, 1);
    const jobs = await s.client.listJobs({ activeOnly: false });
    assert.equal(jobs.jobs.length, 0, 'a refused request never becomes a job');
    assert.equal(s.air.scans, 0, 'a refused request never reaches the radio');
  });

  it('bounds every request string, counting UTF-8 bytes', { timeout: 60_000 }, async () => {
    const over = (n: number): string => 'x'.repeat(n + 1);
    const L = STRING_LIMITS;
    const filter = { name: '', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false };
    const cases: { field: string; bound: number; size?: number; call: (signal: AbortSignal) => Promise<unknown> | AsyncIterable<unknown> }[] = [
      { field: 'adapter_id', bound: L.adapterId, call: (signal) => s.client.scan({ ...SCAN, adapterId: over(L.adapterId) }, { signal }) },
      { field: 'filter.name', bound: L.deviceName, call: (signal) => s.client.scan({ ...SCAN, filter: { ...filter, name: over(L.deviceName) } }, { signal }) },
      { field: 'filter.name_prefix', bound: L.deviceName, call: (signal) => s.client.scan({ ...SCAN, filter: { ...filter, namePrefix: over(L.deviceName) } }, { signal }) },
      { field: 'filter.address', bound: L.address, call: (signal) => s.client.scan({ ...SCAN, filter: { ...filter, address: over(L.address) } }, { signal }) },
      { field: 'filter.service_uuid', bound: L.serviceUuid, call: (signal) => s.client.scan({ ...SCAN, filter: { ...filter, serviceUuid: over(L.serviceUuid) } }, { signal }) },
      { field: 'adapter_id', bound: L.adapterId, call: (signal) => s.client.connect({ adapterId: over(L.adapterId), target: addressTarget('F0:00:00:00:00:01'), scanTimeout: undefined, mtu: 0 }, { signal }) },
      { field: 'target.name', bound: L.deviceName, call: (signal) => s.client.connect({ adapterId: '', target: nameTarget(over(L.deviceName)), scanTimeout: undefined, mtu: 0 }, { signal }) },
      { field: 'target.address.value', bound: L.address, call: (signal) => s.client.connect({ adapterId: '', target: addressTarget(over(L.address)), scanTimeout: undefined, mtu: 0 }, { signal }) },
      { field: 'package_id', bound: L.packageId, call: (signal) => s.client.startDfu(dfu({ package: { $case: 'packageId', packageId: over(L.packageId) } }), { signal }) },
      { field: 'adapter_id', bound: L.adapterId, call: (signal) => s.client.startDfu(dfu({ adapterId: over(L.adapterId) }), { signal }) },
      { field: 'target.address.value', bound: L.address, call: (signal) => s.client.startDfu(dfu({ target: addressTarget(over(L.address)) }), { signal }) },
      // 124 two-byte characters are 248 bytes; one more makes 250: bytes are counted, not characters.
      { field: 'target.name', bound: L.deviceName, size: 250, call: (signal) => s.client.startDfu(dfu({ target: nameTarget('é'.repeat(125)) }), { signal }) },
      { field: 'job_id', bound: L.jobId, call: (signal) => s.client.getJob({ jobId: over(L.jobId) }, { signal }) },
      { field: 'job_id', bound: L.jobId, call: (signal) => s.client.watchJob({ jobId: over(L.jobId) }, { signal }) },
      { field: 'job_id', bound: L.jobId, call: (signal) => s.client.cancelJob({ jobId: over(L.jobId) }, { signal }) },
      { field: 'job_id', bound: L.jobId, call: (signal) => s.client.getJobCapture({ jobId: over(L.jobId) }, { signal }) },
      {
        field: 'device_address',
        bound: L.address,
        call: (signal) => s.client.listAuditRecords({ deviceAddress: over(L.address), since: undefined, result: 0, pageSize: 0, pageToken: '' }, { signal }),
      },
      {
        field: 'page_token',
        bound: L.pageToken,
        call: (signal) => s.client.listAuditRecords({ deviceAddress: '', since: undefined, result: 0, pageSize: 0, pageToken: over(L.pageToken) }, { signal }),
      },
    ];
    for (const c of cases) assertRefused(await failure(c.call), c.field, c.size ?? c.bound + 1, c.bound);
    assert.equal((await s.client.listJobs({ activeOnly: false })).jobs.length, 0);
    assert.equal(s.air.scans, 0);

    // At the bound a string is taken: these fail for what they name, not for their length.
    const atBound = await failure((signal) => s.client.getJob({ jobId: 'j'.repeat(L.jobId) }, { signal }));
    assert.equal(atBound.code, 'JOB_NOT_FOUND');
    assert.ok(atBound.message.length < 200, atBound.message);
    const pkgAtBound = await failure((signal) => s.client.startDfu(dfu({ package: { $case: 'packageId', packageId: 'p'.repeat(L.packageId) } }), { signal }));
    assert.equal(pkgAtBound.code, 'PACKAGE_NOT_FOUND');
  });

  it('takes a 248-byte name, and its job, error, log and audit record quote it briefly', { timeout: 60_000 }, async () => {
    const name = `${'é'.repeat(122)}\n"x"`; // 248 bytes, with a newline and quotes to escape
    assert.equal(Buffer.byteLength(name), STRING_LIMITS.deviceName);
    // The job fails, the call does not: its error is in the `finished` event (service.proto).
    let finished: JobResult | undefined;
    const options = { prn: 0, mtu: 0, retries: undefined, buttonless: 0, scanTimeout: { seconds: 0, nanos: 100_000_000 }, requestTimeout: undefined, disableResume: false, skipIfFirmwareRevision: '' };
    for await (const r of s.client.startDfu(dfu({ target: nameTarget(name), options }), { signal: AbortSignal.timeout(20_000) })) {
      if (r.event?.kind?.$case === 'finished') finished = r.event.kind.finished;
    }
    const d = { code: finished?.error?.reason, message: finished?.error?.message ?? '' };
    assert.equal(d.code, 'DEVICE_NOT_FOUND', d.message);
    // The name is quoted as its first 64 characters, escaped, never whole.
    assert.ok(d.message.includes(`"${'é'.repeat(64)}"…`), d.message);
    assert.ok(!d.message.includes('\n'), d.message);
    const [job] = (await s.client.listJobs({ activeOnly: false })).jobs;
    assert.deepEqual(job?.target, nameTarget(name), 'the job keeps the name it was given');
    const { records } = await s.client.listAuditRecords({ deviceAddress: '', since: undefined, result: 0, pageSize: 0, pageToken: '' });
    assert.equal(records.at(-1)?.targetName, name, 'the audit record keeps the (bounded) name');
  });

  it('validates durations and retries: negative, too short, too long are INVALID_ARGUMENT with the range', { timeout: 60_000 }, async () => {
    const options = { prn: 0, mtu: 0, retries: undefined, buttonless: 0, scanTimeout: undefined, requestTimeout: undefined, disableResume: false, skipIfFirmwareRevision: '' };
    const cases: { what: string; message: RegExp; call: (signal: AbortSignal) => AsyncIterable<unknown> }[] = [
      { what: 'Scan of 1 ns', message: /^duration of 0\.000000001 s is out of range: it must be 10 ms to 24 h$/, call: (signal) => s.client.scan({ ...SCAN, duration: { seconds: 0, nanos: 1 } }, { signal }) },
      { what: 'Scan of -1 s', message: /^duration of -1 s is negative; it must be 10 ms to 24 h$/, call: (signal) => s.client.scan({ ...SCAN, duration: { seconds: -1, nanos: 0 } }, { signal }) },
      { what: 'Scan of 25 h', message: /^duration of 90000 s is out of range/, call: (signal) => s.client.scan({ ...SCAN, duration: { seconds: 90_000, nanos: 0 } }, { signal }) },
      { what: 'Scan with nanos of 2e9', message: /^duration is not a valid duration/, call: (signal) => s.client.scan({ ...SCAN, duration: { seconds: 1, nanos: 2_000_000_000 } }, { signal }) },
      {
        what: 'Connect scan_timeout of 1 ns',
        message: /^scan_timeout of 0\.000000001 s is out of range: it must be 100 ms to 1 h$/,
        call: (signal) => s.client.connect({ adapterId: '', target: addressTarget(s.device().address.value), scanTimeout: { seconds: 0, nanos: 1 }, mtu: 0 }, { signal }),
      },
      { what: 'request_timeout of 1 ns', message: /^request_timeout of 0\.000000001 s is out of range: it must be 1 s to 10 min$/, call: (signal) => s.client.startDfu(dfu({ options: { ...options, requestTimeout: { seconds: 0, nanos: 1 } } }), { signal }) },
      { what: 'request_timeout of -20 s', message: /^request_timeout of -20 s is negative/, call: (signal) => s.client.startDfu(dfu({ options: { ...options, requestTimeout: { seconds: -20, nanos: 0 } } }), { signal }) },
      { what: 'scan_timeout of 2 h', message: /^scan_timeout of 7200 s is out of range: it must be 100 ms to 1 h$/, call: (signal) => s.client.startDfu(dfu({ options: { ...options, scanTimeout: { seconds: 7_200, nanos: 0 } } }), { signal }) },
      { what: 'retries of 4294967295', message: /^retries 4294967295 is out of range: it must be 0 to 100$/, call: (signal) => s.client.startDfu(dfu({ options: { ...options, retries: 4_294_967_295 } }), { signal }) },
    ];
    const jobsBefore = (await s.client.listJobs({ activeOnly: false })).jobs.length;
    const scansBefore = s.air.scans;
    for (const c of cases) {
      const d = await failure(c.call);
      assert.equal(d.grpcCode, Status.INVALID_ARGUMENT, `${c.what}: ${d.code} ${d.message}`);
      assert.match(d.message, c.message, c.what);
      assert.ok(d.remedy?.includes('unset') === true || d.remedy?.includes('default') === true, `${c.what}: ${d.remedy}`);
    }
    assert.equal((await s.client.listJobs({ activeOnly: false })).jobs.length, jobsBefore);
    assert.equal(s.air.scans, scansBefore);

    // The shortest scan the contract allows runs and ends by itself.
    for await (const _ of s.client.scan({ ...SCAN, duration: { seconds: 0, nanos: 10_000_000 } }, { signal: AbortSignal.timeout(20_000) })) void _;
    assert.equal(s.air.scans, scansBefore + 1);
  });

  it('health and reflection quote an unknown name briefly', { timeout: 20_000 }, async () => {
    const service = `bledfu.v1.${'Z'.repeat(4096)}`;
    const d = await failure((signal) => s.client.health.check({ service }, { signal }));
    assert.equal(d.grpcCode, Status.NOT_FOUND, d.message);
    assert.equal(d.message, `unknown service "bledfu.v1.${'Z'.repeat(54)}"…`);

    const channel = createChannel(s.address);
    try {
      const reflection = createClient(ReflectionV1Definition, channel);
      const answers: ReflectionResponse[] = [];
      const ask = async function* (): AsyncGenerator<ReflectionRequest> {
        yield { host: '', kind: 'fileContainingSymbol', value: `no.such.${'Q'.repeat(4096)}` };
        yield { host: '', kind: 'fileByFilename', value: `no/such/${'Q'.repeat(4096)}.proto` };
      };
      for await (const r of reflection.serverReflectionInfo(ask(), { signal: AbortSignal.timeout(10_000) })) answers.push(r);
      assert.deepEqual(
        answers.map((r) => (r.kind === 'error' ? r.message : r.kind)),
        [`symbol "no.such.${'Q'.repeat(56)}"… not found`, `file "no/such/${'Q'.repeat(56)}"… not found`],
      );
    } finally {
      channel.close();
    }
  });

  it('keeps every log line and audit record short', () => {
    assert.ok(logLines.length > 0, 'the server logged');
    const long = logLines.filter((l) => l.length > MAX_LINE);
    assert.deepEqual(long.map((l) => l.slice(0, 200)), []);
    const auditText = readFileSync(audit.path, 'utf8');
    assert.ok(auditText.length > 0, 'the 248-byte name job was audited');
    for (const line of auditText.split('\n')) assert.ok(line.length <= MAX_LINE, `audit line of ${line.length} characters`);
  });
});
