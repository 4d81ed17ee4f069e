/**
 * Who did what, through gRPC: the identity a named token, an unnamed token or a mutual-TLS client
 * certificate gives its caller lands in the job (Job.requested_by) and the audit record
 * (requester, peer), and with a tokens file only the job's starter or an admin token may cancel a
 * job or download its capture (README "Security").
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata } from 'nice-grpc-common';
import { AddressType, CancelCause, JobState, startDfu, Status, watchJob, type BledfuClient, type BledfuClientOptions, type DfuEvent, type Target } from '../../clients/ts/index.js';
import { AuditLog } from '../../server/audit/log.js';
import { silentLogger } from '../../server/common/logger.js';
import { parseTokens } from '../../server/rpc/auth.js';
import { CLIENT_CERTIFICATE_KEY } from '../../server/rpc/clientCertificate.js';
import { loadServerSecurity, type SecuritySettings } from '../../server/rpc/security.js';
import { fakePackageBytes } from '../helpers/fake-adapter-runner.js';
import { DEVICE, startHarness, type Harness } from '../helpers/rpc-harness.js';
import { makeTestPki, opensslMissing, type TestPki } from '../helpers/tls-certs.js';
import { ServerCredentials } from '@grpc/grpc-js';
import { AuditResult } from '../../proto/gen/bledfu/v1/audit.js';
import type { WatchJobResponse } from '../../proto/gen/bledfu/v1/dfu.js';
import { drain, failure } from '../helpers/rpc-outcome.js';

const TARGET: Target = { selector: { $case: 'address', address: { value: DEVICE.value, type: AddressType.ADDRESS_TYPE_RANDOM } } };
// Random-looking fixed tokens (the tokens file refuses predictable ones).
const ALICE = '3f9c1a7e5b0d4c2896e1f07a3b5d9c41';
const BOB = 'a74e0c2b9f1d6835c0b7e24f19a6d3e8';
const CAROL = '5d2b8f0e6a3c9147b2e8d05f7c1a4e96';
const OBSERVER = 'e1c7a40f3b9d2e6851a0c7f4d9b3e2a6';
const UNNAMED = '0b6e3d9a1f4c7e2b85d0a9c6f3e1b7d4';
const TOKENS = `operate ${ALICE} alice\noperate ${BOB} bob\nadmin ${CAROL} carol\nobserve ${OBSERVER} auditor\noperate ${UNNAMED}\n`;
const fingerprint = (token: string): string => `token:${createHash('sha256').update(token).digest('hex').slice(0, 8)}`;

const quick = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(10_000) });

/** Starts a job (the harness's runner keeps it running) and returns its first snapshot; the stream stays open. */
async function startJob(client: BledfuClient): Promise<Extract<DfuEvent, { type: 'snapshot' }>> {
  const events = startDfu(client, { package: { data: fakePackageBytes() }, target: TARGET })[Symbol.asyncIterator]();
  const first = await events.next();
  assert.equal(first.done, false);
  const event = first.value as DfuEvent;
  assert.equal(event.type, 'snapshot');
  // Keep reading in the background so the stream does not hold the job's events back.
  void drain({ [Symbol.asyncIterator]: () => events }).catch(() => undefined);
  return event as Extract<DfuEvent, { type: 'snapshot' }>;
}

describe('identities and job ownership with a tokens file', () => {
  let dir: string;
  let audit: AuditLog;
  let h: Harness;
  const as = (token: string): BledfuClient => h.newClient({ token });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bledfu-identity-'));
    audit = AuditLog.open(join(dir, 'audit.jsonl')).log;
    const security = { credentials: ServerCredentials.createInsecure(), tokens: parseTokens(TOKENS, 'tokens') };
    h = await startHarness({ maxConcurrentDfus: 4, jobRetention: 20, shutdownGraceMs: 2_000 }, silentLogger(), { security, audit });
  });
  after(async () => {
    await h.close();
    audit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts the token's name in the job and the audit record, with the caller's address", async () => {
    const n = h.runner.calls.length;
    const started = await startJob(as(ALICE));
    assert.equal(started.job.requestedBy, 'alice');
    const run = await h.runner.call(n);
    // Everyone who may read jobs sees who started it.
    assert.equal((await as(OBSERVER).getJob({ jobId: started.jobId }, quick())).job?.requestedBy, 'alice');
    const listed = (await as(BOB).listJobs({ activeOnly: true }, quick())).jobs.find((j) => j.jobId === started.jobId);
    assert.equal(listed?.requestedBy, 'alice');

    const records = (await as(OBSERVER).listAuditRecords({ deviceAddress: '', result: AuditResult.AUDIT_RESULT_UNSPECIFIED, pageSize: 0, pageToken: '' }, quick())).records;
    const record = records.find((r) => r.jobId === started.jobId);
    assert.equal(record?.requester, 'alice');
    assert.match(record?.peer ?? '', /127\.0\.0\.1:\d+/);
    // On disk too, where an auditor reads it without the server.
    const line = readFileSync(audit.path, 'utf8').split('\n').find((l) => l.includes(started.jobId) && l.includes('"start"'));
    assert.match(line ?? '', /"requester":"alice","peer":"[^"]*127\.0\.0\.1:\d+"/);
    // Jobs for one device run one at a time: end this one for the next test.
    run.succeed();
    await run.settled;
  });

  it('lets only the starter or an admin cancel a job or download its capture (PERMISSION_DENIED with a remedy)', async () => {
    const n = h.runner.calls.length;
    const started = await startJob(as(ALICE));
    const run = await h.runner.call(n);

    const cancelByBob = await failure(as(BOB).cancelJob({ jobId: started.jobId }, quick()));
    assert.equal(cancelByBob.grpcCode, Status.PERMISSION_DENIED);
    assert.equal(cancelByBob.code, 'PERMISSION_DENIED');
    assert.match(cancelByBob.message, /only the one who started job .* \(alice\) or an admin may cancel it; you are bob/);
    assert.match(cancelByBob.remedy ?? '', /alice.*admin/);
    assert.equal(run.context.signal.aborted, false, "bob's refused cancel left the job running");

    const captureByBob = await failure(drain(as(BOB).getJobCapture({ jobId: started.jobId }, quick())));
    assert.equal(captureByBob.code, 'PERMISSION_DENIED');
    assert.match(captureByBob.message, /may download the capture of it/);
    // An observe token never reaches the ownership check: the method needs operate.
    assert.equal((await failure(as(OBSERVER).cancelJob({ jobId: started.jobId }, quick()))).code, 'PERMISSION_DENIED');
    // The starter passes the check (this job was started without a capture).
    assert.equal((await failure(drain(as(ALICE).getJobCapture({ jobId: started.jobId }, quick())))).code, 'CAPTURE_NOT_FOUND');

    // An admin may cancel anyone's job.
    const cancelled = await as(CAROL).cancelJob({ jobId: started.jobId }, quick());
    assert.equal(cancelled.job?.requestedBy, 'alice');
    await run.settled;
    assert.equal(run.context.signal.aborted, true);
    assert.equal((await as(ALICE).getJob({ jobId: started.jobId }, quick())).job?.state, JobState.JOB_STATE_CANCELLED);
  });

  it("a job an admin cancels: the starter's watch ends OK after `finished` CANCELLED, naming who cancelled it", async () => {
    const n = h.runner.calls.length;
    const started = await startJob(as(ALICE));
    const run = await h.runner.call(n);
    // Alice watches on the wire (no client helper), and through the TS client.
    const wire: WatchJobResponse[] = [];
    const watching = (async () => {
      for await (const r of as(ALICE).watchJob({ jobId: started.jobId }, quick())) wire.push(r);
    })();
    const helper = watchJob(as(ALICE), started.jobId, quick())[Symbol.asyncIterator]();
    assert.equal((await helper.next()).value?.type, 'snapshot');
    await as(CAROL).cancelJob({ jobId: started.jobId }, quick());
    await run.settled;
    await watching; // the call did not fail: a job cancelled by someone else is not a cancelled call
    const last = wire.at(-1)?.event?.kind;
    assert.equal(last?.$case, 'finished');
    if (last?.$case === 'finished') {
      assert.equal(last.finished.state, JobState.JOB_STATE_CANCELLED);
      assert.equal(last.finished.error?.reason, 'CANCELLED');
      assert.equal(last.finished.errorStatus, Status.CANCELLED);
      assert.equal(last.finished.cancelCause, CancelCause.CANCEL_CAUSE_CANCEL_JOB);
      assert.equal(last.finished.cancelledBy, 'carol');
      assert.match(last.finished.error?.message ?? '', /cancelled by a CancelJob request of "carol"/);
    }
    // The TS client raises it, after `finished`, as a typed error that says who.
    const rest: DfuEvent[] = [];
    const thrown = await failure(
      (async () => {
        for (let r = await helper.next(); r.done !== true; r = await helper.next()) rest.push(r.value);
      })(),
    );
    assert.equal(rest.at(-1)?.type, 'finished');
    assert.equal(thrown.code, 'CANCELLED');
    assert.equal(thrown.grpcCode, Status.CANCELLED);
    assert.equal(thrown.metadata['cancel_cause'], 'CANCEL_JOB');
    assert.equal(thrown.metadata['cancelled_by'], 'carol');
  });

  it('names a token without a name by its fingerprint, and its holder may cancel their own job', async () => {
    const n = h.runner.calls.length;
    const started = await startJob(as(UNNAMED));
    assert.equal(started.job.requestedBy, fingerprint(UNNAMED));
    const run = await h.runner.call(n);
    assert.equal((await failure(as(ALICE).cancelJob({ jobId: started.jobId }, quick()))).code, 'PERMISSION_DENIED');
    await as(UNNAMED).cancelJob({ jobId: started.jobId }, quick());
    await run.settled;
    assert.equal(run.context.signal.aborted, true);
  });

  it('ignores a client-certificate name sent as metadata over a connection without one', async () => {
    // The generated client, which lets a test set any metadata.
    const forged = as(UNNAMED).startDfu(
      { package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes()) }, target: TARGET, adapterId: '', options: undefined, captureHci: false },
      { metadata: Metadata({ [CLIENT_CERTIFICATE_KEY]: 'alice' }), signal: AbortSignal.timeout(10_000) },
    )[Symbol.asyncIterator]();
    const first = await forged.next();
    const job = first.done === true ? undefined : first.value.event?.kind?.$case === 'snapshot' ? first.value.event.kind.snapshot : undefined;
    assert.equal(job?.requestedBy, fingerprint(UNNAMED), 'not cert:alice');
    await as(CAROL).cancelJob({ jobId: job?.jobId ?? '' }, quick());
    await drain({ [Symbol.asyncIterator]: () => forged }).catch(() => undefined);
  });
});

describe('a server without a tokens file', () => {
  it('has no roles: jobs carry no identity, and anyone may cancel any job', async () => {
    const h = await startHarness({ jobRetention: 10, shutdownGraceMs: 2_000 });
    try {
      const n = h.runner.calls.length;
      const started = await startJob(h.client);
      assert.equal(started.job.requestedBy, '');
      const run = await h.runner.call(n);
      await h.newClient().cancelJob({ jobId: started.jobId }, quick());
      await run.settled;
      assert.equal(run.context.signal.aborted, true);
    } finally {
      await h.close();
    }
  });
});

const missing = opensslMissing();
if (missing !== undefined && process.env['CI']) throw new Error(`identity tests need openssl under CI: ${missing}`);

describe('mutual TLS client certificates as identities', { skip: missing === undefined ? false : `${missing}; install it (Debian: apt-get install openssl)` }, () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.remove());

  const NONE: SecuritySettings = { listen: '127.0.0.1:0', tlsCert: '', tlsKey: '', tlsClientCa: '', tokensFile: '', insecure: false };
  async function serve(tokens: string | undefined): Promise<{ h: Harness; client: (extra?: BledfuClientOptions) => BledfuClient }> {
    const files: Record<string, string> = { tokens: tokens ?? '' };
    const security = loadServerSecurity(
      { ...NONE, tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsClientCa: pki.files.ca, tokensFile: tokens === undefined ? '' : 'tokens' },
      (p) => (p in files ? Buffer.from(files[p] ?? '') : readFileSync(p)),
    );
    const h = await startHarness({ jobRetention: 10, shutdownGraceMs: 2_000 }, silentLogger(), { security });
    const mtls = { ca: pki.read(pki.files.ca), cert: pki.read(pki.files.clientCert), key: pki.read(pki.files.clientKey) };
    return { h, client: (extra = {}) => h.newClient({ ...mtls, ...extra }) };
  }

  it("names the caller by the certificate's subject CN (cert:<CN>) when no token names them", async () => {
    const { h, client } = await serve(undefined);
    try {
      const started = await startJob(client());
      // makeTestPki's client certificate has the subject CN "client".
      assert.equal(started.job.requestedBy, 'cert:client');
      await client().cancelJob({ jobId: started.jobId }, quick());
    } finally {
      await h.close();
    }
  });

  it('with tokens too: a named token wins, and a certificate names the holder of an unnamed token', async () => {
    const { h, client } = await serve(`operate ${ALICE} alice\noperate ${UNNAMED}\n`);
    try {
      const byAlice = await startJob(client({ token: ALICE }));
      assert.equal(byAlice.job.requestedBy, 'alice');
      const byCert = await startJob(client({ token: UNNAMED }));
      assert.equal(byCert.job.requestedBy, 'cert:client');
      assert.equal((await failure(client({ token: ALICE }).cancelJob({ jobId: byCert.jobId }, quick()))).code, 'PERMISSION_DENIED');
      await client({ token: UNNAMED }).cancelJob({ jobId: byCert.jobId }, quick());
      await client({ token: ALICE }).cancelJob({ jobId: byAlice.jobId }, quick());
    } finally {
      await h.close();
    }
  });
});
