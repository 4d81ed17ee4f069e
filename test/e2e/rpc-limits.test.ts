/**
 * What a request may cost the server before anyone is known (issue 12, item 2 and the smaller
 * ones), through a real server: package calls are judged from their headers before a byte of
 * their body is read, every other method has a small receive limit (reflection and health
 * included), package bodies received at once are bounded, requests that do not decode end
 * INVALID_ARGUMENT, and 20 concurrent streams raise no MaxListenersExceededWarning.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { createChannel, createClient, createClientFactory, type MethodDefinition } from 'nice-grpc';
import { errorDetailsClientMiddleware } from 'nice-grpc-error-details';
import { DEFAULT_CONFIG } from '../../server/config/settings.js';
import { silentLogger } from '../../server/common/logger.js';
import { ReflectionV1Definition, type ReflectionRequest } from '../../server/rpc/reflection.js';
import { loadServerSecurity, type SecuritySettings } from '../../server/rpc/security.js';
import { Status, uploadPackage, type BledfuClient } from '../../clients/ts/index.js';
import { fakePackageBytes } from '../helpers/fake-adapter-runner.js';
import { DEVICE, startHarness, type Harness } from '../helpers/rpc-harness.js';
import { frame, frameHeader, rawCall } from '../helpers/raw-grpc.js';
import { startSimServer } from '../helpers/sim-server.js';
import { drain, failure } from '../helpers/rpc-outcome.js';
import { ManualClock } from '../helpers/manualClock.js';

const OBSERVE_TOKEN = 'observe-token-limits-0123456789';
const OPERATE_TOKEN = 'operate-token-limits-0123456789';
const MiB = 1024 * 1024;
const START_DFU = '/bledfu.v1.BledfuService/StartDfu';
const UPLOAD = '/bledfu.v1.BledfuService/UploadPackage';

const NO_SECURITY: SecuritySettings = { listen: '127.0.0.1:0', tlsCert: '', tlsKey: '', tlsClientCa: '', tokensFile: '', insecure: false };

const quick = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(20_000) });
const target = { selector: { $case: 'address' as const, address: { value: DEVICE.value, type: 0 } } };

/** Resolves once `ok()` holds; the harness state it reads changes as the server handles calls. */
async function eventually(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setImmediate(r));
}

describe('package calls are judged before their body is read', () => {
  let dir: string;
  let h: Harness;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bledfu-limits-'));
    writeFileSync(join(dir, 'tokens'), `observe ${OBSERVE_TOKEN}\noperate ${OPERATE_TOKEN}\n`);
    const security = loadServerSecurity({ ...NO_SECURITY, tokensFile: join(dir, 'tokens') }, (p) => readFileSync(p));
    h = await startHarness({ maxRequestBytes: 2 * MiB, maxMessageBytes: 16 * 1024 }, silentLogger(), { security });
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a StartDfu announcing 60 MiB with no token, a bad token or an observe token is refused unread', async () => {
    // Only the first 64 KiB of the announced 60 MiB are ever sent: an answer proves the server
    // did not wait for (or buffer) the body.
    const partial = Buffer.concat([frameHeader(60 * MiB), Buffer.alloc(64 * 1024)]);
    const none = await rawCall(h.address, START_DFU, partial, { end: false });
    assert.equal(none.status, Status.UNAUTHENTICATED, none.message);
    assert.ok(none.hasDetails, 'the refusal carries ErrorInfo like any other');
    const bad = await rawCall(h.address, START_DFU, partial, { end: false, headers: { authorization: `Bearer ${OPERATE_TOKEN}x` } });
    assert.equal(bad.status, Status.UNAUTHENTICATED, bad.message);
    const observer = await rawCall(h.address, UPLOAD, partial, { end: false, headers: { authorization: `Bearer ${OBSERVE_TOKEN}` } });
    assert.equal(observer.status, Status.PERMISSION_DENIED, observer.message);

    const gate = h.app.gate();
    assert.equal(gate.refusedUnread, 3);
    assert.equal(gate.uploadsAdmitted, 0);
    assert.equal(h.reader.calls, 0);
  });

  it('the TS client decodes an early refusal like a handler\'s: code, remedy', async () => {
    const e = await failure(drain(h.newClient().startDfu({ package: { $case: 'packageData', packageData: Buffer.alloc(MiB) }, target }, quick())));
    assert.equal(e.grpcCode, Status.UNAUTHENTICATED);
    assert.equal(e.code, 'UNAUTHENTICATED');
    assert.match(e.remedy ?? '', /--token/);
  });

  it('an operate token\'s StartDfu above --max-message-bytes reaches the package reader; other methods keep the small limit', async () => {
    const operator = h.newClient({ token: OPERATE_TOKEN });
    const admittedBefore = h.app.gate().uploadsAdmitted;
    const readsBefore = h.reader.calls;
    const stream = operator.startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes(MiB)) }, target }, quick())[Symbol.asyncIterator]();
    const first = await stream.next();
    assert.equal(first.done, false);
    assert.equal(h.reader.calls, readsBefore + 1);
    assert.equal(h.app.gate().uploadsAdmitted, admittedBefore + 1);
    (await h.runner.call(0)).succeed({});
    await stream.return?.(undefined);

    const big = await failure(operator.getJob({ jobId: 'j'.repeat(32 * 1024) }, quick()));
    assert.equal(big.grpcCode, Status.RESOURCE_EXHAUSTED, big.message);
    const tooBigPackage = await failure(drain(operator.startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes(3 * MiB)) }, target }, quick())));
    assert.equal(tooBigPackage.grpcCode, Status.RESOURCE_EXHAUSTED, tooBigPackage.message);
  });

  it('an authorization value holding two tokens is no token: UNAUTHENTICATED', async () => {
    // Node's HTTP/2 layer keeps one `authorization` field per request (the first); a comma-joined
    // pair (what an HTTP/1-style proxy makes of two fields) is what can reach the server.
    const joined = await rawCall(h.address, START_DFU, frame(new Uint8Array(0)), {
      headers: { authorization: `Bearer ${OPERATE_TOKEN}, Bearer ${OBSERVE_TOKEN}` },
    });
    assert.equal(joined.status, Status.UNAUTHENTICATED, joined.message);
    const e = await failure(h.newClient({ token: `${OPERATE_TOKEN}, Bearer ${OPERATE_TOKEN}` }).listJobs({}, quick()));
    assert.equal(e.code, 'UNAUTHENTICATED');
  });
});

describe('small receive limit for everything but package calls', () => {
  it('reflection and health refuse a large request without a token; an announced 50 MiB is refused unread', async () => {
    const h = await startHarness();
    const channel = createChannel(h.address);
    try {
      assert.equal(DEFAULT_CONFIG.maxMessageBytes, 256 * 1024);
      const big = 'x'.repeat(DEFAULT_CONFIG.maxMessageBytes + 1);
      const reflection = createClient(ReflectionV1Definition, channel);
      async function* one(): AsyncGenerator<ReflectionRequest> {
        yield { host: big, kind: 'listServices', value: '*' };
      }
      const r = await failure(drain(reflection.serverReflectionInfo(one())));
      assert.equal(r.grpcCode, Status.RESOURCE_EXHAUSTED, r.message);
      const health = await failure(h.client.health.check({ service: big }, quick()));
      assert.equal(health.grpcCode, Status.RESOURCE_EXHAUSTED, health.message);

      const unread = await rawCall(h.address, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', frameHeader(50 * MiB), { end: false });
      assert.equal(unread.status, Status.RESOURCE_EXHAUSTED, unread.message);
      // Small requests still work.
      assert.equal((await h.client.health.check({ service: '' }, quick())).status, 1);
    } finally {
      channel.close();
      await h.close();
    }
  });
});

/** Starts a job and resolves with the kind of its first event (once the call got past the gate). */
async function firstEvent(client: BledfuClient, signal: AbortSignal): Promise<string | undefined> {
  const stream = client.startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes(64)) }, target }, { signal })[Symbol.asyncIterator]();
  const first = await stream.next();
  return first.done === true ? undefined : first.value.event?.kind?.$case;
}

/** An upload that sends its first KiB and then holds its package slot until `release`. */
function heldUpload(client: BledfuClient): { readonly holder: Promise<unknown>; readonly release: () => void } {
  let release = (): void => undefined;
  const done = new Promise<void>((r) => (release = r));
  async function* chunks(): AsyncGenerator<{ chunk: Buffer }> {
    yield { chunk: Buffer.from(fakePackageBytes(1024)) };
    await done;
  }
  return { holder: client.uploadPackage(chunks(), quick()), release };
}

describe('package bodies received at once', () => {
  it('StartDfu calls waiting for a slot are bounded (4 × the uploads): one more is refused TOO_MANY_UPLOADS at once; a waiting call cancelled leaves the line', async () => {
    const h = await startHarness({ maxConcurrentUploads: 1 });
    try {
      const { holder, release } = heldUpload(h.newClient());
      await eventually(() => h.app.gate().uploadsReceiving === 1);
      const leaving = new AbortController();
      const first = firstEvent(h.newClient(), leaving.signal).catch((e: unknown) => e);
      const end = new AbortController();
      const rest = Array.from({ length: 3 }, () => firstEvent(h.newClient(), end.signal));
      await eventually(() => h.app.gate().startsWaiting === 4);
      const refused = await failure(drain(h.newClient().startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes(64)) }, target }, quick())));
      assert.equal(refused.code, 'TOO_MANY_UPLOADS');
      assert.match(refused.message, /4 StartDfu calls wait/);
      // The first in line hangs up: it leaves the line, and the others keep their places.
      leaving.abort();
      await first;
      await eventually(() => h.app.gate().startsWaiting === 3);
      release();
      await holder;
      assert.deepEqual(await Promise.all(rest), ['snapshot', 'snapshot', 'snapshot']);
      end.abort();
      assert.equal(h.app.gate().startsWaiting, 0);
      assert.equal(h.app.gate().refusedUnread, 1);
    } finally {
      await h.close();
    }
  });

  it('one upload over --max-concurrent-uploads is refused TOO_MANY_UPLOADS unread; a StartDfu waits for a slot; a slot frees when a body has arrived', async () => {
    const h = await startHarness({ maxConcurrentUploads: 2 });
    try {
      const releases: (() => void)[] = [];
      const held = (client: BledfuClient): Promise<unknown> => {
        const done = new Promise<void>((r) => releases.push(r));
        async function* chunks(): AsyncGenerator<{ chunk: Buffer }> {
          yield { chunk: Buffer.from(fakePackageBytes(1024)) };
          await done;
        }
        return client.uploadPackage(chunks(), quick());
      };
      const a = held(h.newClient());
      const b = held(h.newClient());
      await eventually(() => h.app.gate().uploadsReceiving === 2);

      const third = await failure(uploadPackage(h.newClient(), fakePackageBytes(64), quick()));
      assert.equal(third.grpcCode, Status.RESOURCE_EXHAUSTED);
      assert.equal(third.code, 'TOO_MANY_UPLOADS');
      assert.match(third.remedy ?? '', /max-concurrent-uploads/);
      assert.equal(h.app.gate().refusedUnread, 1);
      // A station starts its jobs in bursts: a StartDfu over the limit waits for a slot, unread.
      const leave = new AbortController();
      const startWhileFull = firstEvent(h.newClient(), leave.signal);
      await eventually(() => h.app.gate().startsWaiting === 1);

      releases[0]?.();
      await a;
      // The freed slot went to the waiting StartDfu, whose job started.
      assert.equal(await startWhileFull, 'snapshot');
      leave.abort();
      assert.equal(h.app.gate().startsWaiting, 0);
      assert.equal(h.app.gate().uploadsReceiving, 1);
      const fourth = await uploadPackage(h.newClient(), fakePackageBytes(64), quick());
      assert.equal(fourth.size, 64);
      releases[1]?.();
      await b;
      assert.equal(h.app.gate().uploadsReceiving, 0);
      assert.equal(h.app.gate().refusedUnread, 1);
    } finally {
      await h.close();
    }
  });
});

describe('a StartDfu waiting for a package slot', () => {
  it('is refused TOO_MANY_UPLOADS when none came free within 30 s (real time), and leaves the line', async () => {
    const network = new ManualClock();
    const h = await startHarness({ maxConcurrentUploads: 1 }, silentLogger(), { networkClock: network });
    try {
      const { holder, release } = heldUpload(h.newClient());
      await eventually(() => h.app.gate().uploadsReceiving === 1);
      const waiting = failure(drain(h.newClient().startDfu({ package: { $case: 'packageData', packageData: Buffer.from(fakePackageBytes(64)) }, target }, quick())));
      await eventually(() => h.app.gate().startsWaiting === 1);
      assert.equal(network.fire(29_999), 0, 'no timer shorter than the documented 30 s');
      assert.equal(network.fire(30_000), 1);
      const refused = await waiting;
      assert.equal(refused.grpcCode, Status.RESOURCE_EXHAUSTED);
      assert.equal(refused.code, 'TOO_MANY_UPLOADS');
      assert.match(refused.message, /waited 30 s/);
      assert.match(refused.remedy ?? '', /max-concurrent-uploads/);
      assert.equal(h.app.gate().startsWaiting, 0);
      // The slot it never had is still the upload's; when that ends, the next call gets it.
      release();
      await holder;
      assert.equal(h.app.gate().uploadsReceiving, 0);
      assert.equal((await uploadPackage(h.newClient(), fakePackageBytes(64), quick())).size, 64);
    } finally {
      await h.close();
    }
  });
});

/** A method whose request is sent as the given bytes, exactly. */
function rawMethod<S extends boolean>(path: string, responseStream: S): MethodDefinition<Uint8Array, Uint8Array, Uint8Array, Uint8Array, false, S> {
  const id = (b: Uint8Array): Uint8Array => b;
  return { path, requestStream: false, responseStream, options: {}, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id };
}

describe('requests that do not decode', () => {
  it('end INVALID_ARGUMENT with ErrorInfo, int64 durations beyond 2^53 included', async () => {
    const h = await startHarness();
    const channel = createChannel(h.address);
    try {
      const client = createClientFactory()
        .use(errorDetailsClientMiddleware)
        .create(
          {
            getJob: rawMethod('/bledfu.v1.BledfuService/GetJob', false),
            scan: rawMethod('/bledfu.v1.BledfuService/Scan', true),
            check: rawMethod('/grpc.health.v1.Health/Check', false),
          },
          channel,
        );
      // Field 1 (job_id) announces 5 bytes; 1 follows.
      const truncated = Uint8Array.from([0x0a, 0x05, 0x41]);
      const getJob = await failure(client.getJob(truncated, quick()));
      assert.equal(getJob.grpcCode, Status.INVALID_ARGUMENT, getJob.message);
      assert.equal(getJob.code, 'INVALID_ARGUMENT');
      assert.match(getJob.message, /does not decode/);

      // ScanRequest.duration (field 3) = { seconds: 2^60 }.
      const w = new BinaryWriter();
      w.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 0).int64(2n ** 60n).join();
      const scan = await failure(drain(client.scan(w.finish(), quick())));
      assert.equal(scan.grpcCode, Status.INVALID_ARGUMENT, scan.message);
      assert.equal(scan.code, 'INVALID_ARGUMENT');

      const health = await failure(client.check(truncated, quick()));
      assert.equal(health.grpcCode, Status.INVALID_ARGUMENT, health.message);

      const upload = await rawCall(h.address, UPLOAD, frame(truncated));
      assert.equal(upload.status, Status.INVALID_ARGUMENT, upload.message);
      assert.ok(upload.hasDetails);
    } finally {
      channel.close();
      await h.close();
    }
  });
});

describe('many concurrent streams', () => {
  it('20 scans and 20 health watches at once raise no MaxListenersExceededWarning', { timeout: 60_000 }, async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const s = await startSimServer();
    const calls: AbortController[] = [];
    const streams: Promise<void>[] = [];
    try {
      /** Opens a stream; resolves once its first message arrived (its handler is running). */
      const open = <T>(make: (signal: AbortSignal) => AsyncIterable<T>): Promise<void> => {
        const c = new AbortController();
        calls.push(c);
        const it = make(c.signal)[Symbol.asyncIterator]();
        let firstSeen!: () => void;
        const first = new Promise<void>((r) => (firstSeen = r));
        const rest = (async () => {
          await it.next();
          firstSeen();
          for (;;) if ((await it.next()).done) return;
        })();
        streams.push(rest.catch(() => firstSeen()));
        return first;
      };
      const firsts: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        firsts.push(open((signal) => s.client.scan({ allowDuplicates: true }, { signal })));
        firsts.push(open((signal) => s.client.health.watch({ service: '' }, { signal })));
      }
      await Promise.all(firsts);
    } finally {
      for (const c of calls) c.abort();
      await Promise.all(streams);
      await s.close();
      process.off('warning', onWarning);
    }
    const leaks = warnings.filter((w) => w.name === 'MaxListenersExceededWarning');
    assert.deepEqual(leaks.map((w) => w.message), []);
  });
});
