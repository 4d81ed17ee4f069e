/**
 * Several servers as one (clients/ts/fleet.ts), each a whole simulated server on 127.0.0.x with
 * its own simulated devices: a merged scan tagged by server, a DFU by name landing on the server
 * that has the device, the strongest RSSI winning when two servers see it, a dead server
 * reported while the others answer, and a `dns:///` name whose addresses are separate servers —
 * through the real channel code, plaintext and TLS (the certificate names the service, not the
 * address dialled).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../server/common/logger.js';
import { loadServerSecurity } from '../../server/rpc/security.js';
import { parseSimSpec } from '../../server/sim/world.js';
import { EXIT } from '../../clients/cli/exitCodes.js';
import { BledfuFleet, decodeError, FleetDeviceNotFoundError, Status, type FleetDfuEvent, type FleetScanEvent } from '../../clients/ts/index.js';
import { startHarness, type Harness } from '../helpers/rpc-harness.js';
import { startSimServer, type SimServer } from '../helpers/sim-server.js';
import { projectZip } from '../helpers/project-packages.js';
import { cliInProcess, type InProcessRun } from '../helpers/cli-in-process.js';
import { makeTestPki, opensslMissing } from '../helpers/tls-certs.js';

/** The project's ~100 KB application package (demo key, the simulator's default). */
const APP = await projectZip('app');
/** The same device (address and name) near both stations, heard better by the second. */
const SHARED = { address: 'C0:FF:EE:00:00:01', name: 'shared-sensor' };
const TEST_TIMEOUT_MS = 60_000;

/** A closed port: nothing listens there, so a call fails at once with UNAVAILABLE. */
async function deadAddress(): Promise<string> {
  const s = await startSimServer();
  const address = s.address;
  await s.close();
  return address;
}

/** The CLI in-process; `app.zip` reads the project's application package, nothing is written. */
async function cli(argv: readonly string[]): Promise<InProcessRun> {
  return cliInProcess(argv, {}, {
    readFile: async (p) => {
      if (p === 'app.zip') return APP;
      throw new Error(`ENOENT: ${p}`);
    },
    writeFile: async () => undefined,
  });
}

async function collect<T>(events: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('BledfuFleet over simulated servers', () => {
  let a: SimServer;
  let b: SimServer;
  let dead: string;
  before(async () => {
    // Station A: bledfu-sim-1 and the shared device, weakly; station B: bledfu-sim-2 (first=2)
    // and the shared device, strongly.
    a = await startSimServer({ devices: [...(parseSimSpec('sim:?devices=1').devices ?? []), { ...SHARED, rssi: -85 }] });
    b = await startSimServer({ devices: [...(parseSimSpec('sim:?devices=1&first=2').devices ?? []), { ...SHARED, rssi: -45 }] });
    dead = await deadAddress();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('merges the scans of all servers, each advertisement tagged with the server that heard it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const fleet = new BledfuFleet([a.address, b.address]);
    try {
      const want = new Set([`${a.address} bledfu-sim-1`, `${a.address} ${SHARED.name}`, `${b.address} bledfu-sim-2`, `${b.address} ${SHARED.name}`]);
      const seen = new Set<string>();
      const controller = new AbortController();
      for await (const e of fleet.scan({ active: true }, { signal: AbortSignal.any([AbortSignal.timeout(20_000), controller.signal]) })) {
        assert.equal(e.type, 'advertisement', JSON.stringify(e));
        if (e.type === 'advertisement') seen.add(`${e.server} ${e.advertisement.name}`);
        if ([...want].every((w) => seen.has(w))) controller.abort();
      }
      assert.deepEqual([...seen].sort(), [...want].sort());
    } finally {
      fleet.close();
    }
  });

  it('runs a DFU by name on the server that sees the device, and only there', { timeout: TEST_TIMEOUT_MS }, async () => {
    const fleet = new BledfuFleet([a.address, b.address]);
    try {
      const where: string[] = [];
      const events: FleetDfuEvent[] = await collect(
        fleet.startDfu(
          { package: { data: APP }, target: { name: 'bledfu-sim-2' } },
          { signal: AbortSignal.timeout(40_000), onLocated: (l) => where.push(l.server) },
        ),
      );
      assert.deepEqual(where, [b.address]);
      assert.ok(events.every((e) => e.server === b.address));
      const last = events.at(-1);
      assert.equal(last?.type, 'finished');
      assert.equal(last?.type === 'finished' && last.result.success, true);
      const jobId = events[0]?.jobId ?? '';
      assert.deepEqual((await b.client.listJobs({ activeOnly: false })).jobs.map((j) => j.jobId), [jobId]);
      assert.deepEqual((await a.client.listJobs({ activeOnly: false })).jobs, []);
      // The firmware went over B's air to B's device; A's devices got nothing.
      assert.ok(b.observed(0).dataBytes > 0);
      assert.deepEqual([a.observed(0).dataBytes, a.observed(1).dataBytes, b.observed(1).dataBytes], [0, 0, 0]);

      // The job is found by id alone, and listed across the fleet with its server.
      assert.deepEqual(await fleet.findJob(jobId), { server: b.address, jobId });
      const { results } = await fleet.jobs();
      assert.deepEqual(
        results.map((r) => [r.server, r.value.map((j) => j.jobId)]),
        [
          [a.address, []],
          [b.address, [jobId]],
        ],
      );
      const watched = await collect(fleet.watchJob({ server: b.address, jobId }));
      assert.equal(watched[0]?.type, 'snapshot');
      assert.ok(watched.every((e) => e.server === b.address));
    } finally {
      fleet.close();
    }
  });

  it('sends a device two servers see to the one with the stronger signal', { timeout: TEST_TIMEOUT_MS }, async () => {
    // A long settle window: locate stops waiting as soon as both servers have seen the device.
    const fleet = new BledfuFleet([a.address, b.address]);
    try {
      const byName = await fleet.locate({ name: SHARED.name }, { settleMs: 20_000, signal: AbortSignal.timeout(30_000) });
      assert.equal(byName.server, b.address);
      assert.deepEqual(
        byName.sightings.map((s) => [s.server, s.advertisement.rssi]),
        [
          [b.address, -45],
          [a.address, -85],
        ],
      );
      const byAddress = await fleet.locate({ address: SHARED.address.toLowerCase() }, { settleMs: 20_000, signal: AbortSignal.timeout(30_000) });
      assert.equal(byAddress.server, b.address);
    } finally {
      fleet.close();
    }
  });

  it('reports a dead server and goes on with the others (adapters, scan)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const fleet = new BledfuFleet([a.address, dead, b.address]);
    try {
      const adapters = await fleet.adapters();
      assert.deepEqual(
        adapters.results.map((r) => [r.server, r.value.map((x) => x.id)]),
        [
          [a.address, ['sim0']],
          [b.address, ['sim0']],
        ],
      );
      assert.deepEqual(
        adapters.failures.map((f) => [f.server, f.error.code]),
        [[dead, 'SERVER_UNREACHABLE']],
      );

      const events: FleetScanEvent[] = [];
      for await (const e of fleet.scan({ filter: { name: 'bledfu-sim-2' }, durationSeconds: 30 }, { signal: AbortSignal.timeout(30_000) })) {
        events.push(e);
        if (events.some((x) => x.type === 'failure') && events.some((x) => x.type === 'advertisement')) break;
      }
      const failure = events.find((e) => e.type === 'failure');
      assert.equal(failure?.server, dead);
      assert.equal(failure?.type === 'failure' && failure.error.grpcCode, Status.UNAVAILABLE);
      const ad = events.find((e) => e.type === 'advertisement');
      assert.equal(ad?.server, b.address);
    } finally {
      fleet.close();
    }
  });

  it('says which servers it asked when nobody sees the device', { timeout: TEST_TIMEOUT_MS }, async () => {
    const fleet = new BledfuFleet([a.address, b.address, dead]);
    try {
      const error = await fleet.locate({ name: 'nobody-has-this' }, { timeoutMs: 1_000 }).then(
        () => assert.fail('located a device nobody has'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof FleetDeviceNotFoundError, String(error));
      assert.deepEqual([...error.servers].sort(), [a.address, b.address, dead].sort());
      assert.deepEqual(
        error.failures.map((f) => [f.server, f.error.code]),
        [[dead, 'SERVER_UNREACHABLE']],
      );
      const decoded = decodeError(error);
      assert.equal(decoded.code, 'DEVICE_NOT_FOUND');
      assert.equal(decoded.grpcCode, Status.NOT_FOUND);
      assert.match(decoded.message, new RegExp(a.address.replace(/\./g, '\\.')));
    } finally {
      fleet.close();
    }
    // When no server could scan at all, that is what the error says.
    const deadOnly = new BledfuFleet([dead]);
    try {
      const error = await deadOnly.locate({ name: 'bledfu-sim-1' }, { timeoutMs: 10_000 }).then(
        () => assert.fail('located a device through a dead server'),
        (e: unknown) => decodeError(e),
      );
      assert.equal(error.code, 'SERVER_UNREACHABLE');
    } finally {
      deadOnly.close();
    }
  });
});

describe('bledfu CLI with several servers', () => {
  let a: SimServer;
  let b: SimServer;
  let dead: string;
  before(async () => {
    a = await startSimServer(parseSimSpec('sim:?devices=1'));
    b = await startSimServer(parseSimSpec('sim:?devices=1&first=2'));
    dead = await deadAddress();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('adapters: one line per adapter prefixed with its server, `server` in --json; a dead server is a warning', { timeout: TEST_TIMEOUT_MS }, async () => {
    const text = await cli(['--server', `${a.address},${dead},${b.address}`, 'adapters']);
    assert.equal(text.code, EXIT.ok, text.stderr);
    assert.deepEqual(
      text.stdout.trim().split('\n').map((l) => l.split('  ').slice(0, 2)),
      [
        [a.address, 'sim0'],
        [b.address, 'sim0'],
      ],
    );
    assert.match(text.stderr, new RegExp(`^warning: ${dead.replace(/\./g, '\\.')}: SERVER_UNREACHABLE`, 'm'));

    const json = await cli(['--server', `${a.address},${b.address}`, '--json', 'adapters']);
    assert.equal(json.code, EXIT.ok, json.stderr);
    assert.deepEqual(json.records.map((r) => [r['type'], r['server']]), [
      ['adapter', a.address],
      ['adapter', b.address],
    ]);

    const none = await cli(['--server', `${dead},${dead.replace('127.0.0.1', '127.0.0.3')}`, '--json', 'adapters']);
    assert.equal(none.code, EXIT.serverUnreachable);
    assert.equal(none.records.at(-1)?.['code'], 'SERVER_UNREACHABLE');
  });

  it('scan: merged, each device with the server that heard it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await cli(['--server', `${a.address},${b.address}`, '--json', 'scan', '--prefix', 'bledfu-sim-', '--duration', '2']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const seen = r.records.filter((x) => x['type'] === 'advertisement').map((x) => `${String(x['server'])} ${String((x['advertisement'] as { name?: string }).name)}`);
    assert.deepEqual(seen.sort(), [`${a.address} bledfu-sim-1`, `${b.address} bledfu-sim-2`].sort());
  });

  it('dfu by name runs on the server that sees the device; jobs list/watch find it there', { timeout: TEST_TIMEOUT_MS }, async () => {
    const servers = `${a.address},${b.address}`;
    const run = await cli(['--server', servers, 'dfu', 'app.zip', '--name', 'bledfu-sim-2']);
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.match(run.stdout, new RegExp(`^device F0:0D:C0:DE:00:03 "bledfu-sim-2" seen by server ${b.address.replace(/\./g, '\\.')} \\(rssi -40 dBm\\)$`, 'm'));
    assert.match(run.stdout, /^done in /m);
    const [job] = (await b.client.listJobs({ activeOnly: false })).jobs;
    assert.equal(job?.result?.success, true);
    assert.deepEqual((await a.client.listJobs({ activeOnly: false })).jobs, []);
    const jobId = job?.jobId ?? '';

    const list = await cli(['--server', servers, '--json', 'jobs', 'list']);
    assert.deepEqual(list.records.map((r) => [r['type'], r['server'], (r['job'] as { jobId?: string }).jobId]), [['job', b.address, jobId]]);
    for (const ref of [jobId, `${b.address}/${jobId}`]) {
      const watch = await cli(['--server', servers, '--json', 'jobs', 'watch', ref]);
      assert.equal(watch.code, EXIT.ok, watch.stderr);
      assert.equal(watch.records[0]?.['type'], 'snapshot');
      assert.ok(watch.records.every((r) => r['server'] === b.address));
    }
    const missing = await cli(['--server', servers, '--json', 'jobs', 'watch', 'no-such-job']);
    assert.equal(missing.code, EXIT.notFound);
    assert.equal(missing.records.at(-1)?.['code'], 'JOB_NOT_FOUND');
  });

  it('dfu of a device nobody sees exits 3 naming the servers asked', { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await cli(['--server', `${a.address},${b.address}`, '--json', 'dfu', 'app.zip', '--name', 'nobody-has-this', '--scan-timeout', '1']);
    assert.equal(r.code, EXIT.notFound);
    const error = r.records.at(-1);
    assert.equal(error?.['code'], 'DEVICE_NOT_FOUND');
    assert.match(String(error?.['message']), new RegExp(`${a.address.replace(/\./g, '\\.')}.*${b.address.replace(/\./g, '\\.')}`));
  });

  it('refuses malformed server lists (exit 2)', async () => {
    for (const server of [`${a.address},,${b.address}`, 'dns:///no-port', 'dns://authority/name:1']) {
      const r = await cli(['--server', server, '--json', 'adapters']);
      assert.equal(r.code, EXIT.usage, `${server}: ${r.stdout}${r.stderr}`);
    }
  });
});

describe('BledfuFleet with a dns:/// name', () => {
  it('treats every address the name resolves to as a server, and sees servers leave', { timeout: TEST_TIMEOUT_MS }, async () => {
    const one = await startSimServer();
    const port = one.address.split(':')[1] as string;
    // The whole of 127/8 is loopback on Linux: a second server on the same port, another address.
    const two = await startSimServer(parseSimSpec('sim:?first=2'), { listen: `127.0.0.2:${port}` });
    let answer = ['127.0.0.1', '127.0.0.2'];
    const asked: string[] = [];
    const fleet = new BledfuFleet([`dns:///bledfu.test:${port}`], {
      resolveTtlMs: 0,
      resolve: async (host) => {
        asked.push(host);
        return answer;
      },
    });
    try {
      const first = await fleet.adapters();
      assert.deepEqual(first.failures, []);
      assert.deepEqual(first.results.map((r) => r.server), [`127.0.0.1:${port}`, `127.0.0.2:${port}`]);
      const names = new Set<string>();
      const controller = new AbortController();
      for await (const e of fleet.scan({}, { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(20_000)]) })) {
        if (e.type === 'advertisement') names.add(`${e.server} ${e.advertisement.name}`);
        if (names.size === 2) controller.abort();
      }
      assert.deepEqual([...names].sort(), [`127.0.0.1:${port} bledfu-sim-1`, `127.0.0.2:${port} bledfu-sim-2`].sort());

      answer = ['127.0.0.2'];
      assert.deepEqual((await fleet.adapters()).results.map((r) => r.server), [`127.0.0.2:${port}`]);
      assert.ok(asked.length >= 3 && asked.every((h) => h === 'bledfu.test'));

      answer = [];
      const none = await fleet.adapters();
      assert.deepEqual(none.results, []);
      assert.deepEqual(none.failures.map((f) => [f.server, f.error.code]), [[`dns:///bledfu.test:${port}`, 'SERVER_UNREACHABLE']]);
    } finally {
      fleet.close();
      await one.close();
      await two.close();
    }
  });

  const missing = opensslMissing();
  if (missing !== undefined && process.env['CI']) throw new Error(`fleet TLS test needs openssl under CI: ${missing}`);
  describe('over TLS', { skip: missing === undefined ? false : `${missing}; install it (Debian: apt-get install openssl)` }, () => {
    let pki: ReturnType<typeof makeTestPki>;
    let harness: Harness | undefined;
    before(() => {
      pki = makeTestPki();
    });
    after(async () => {
      await harness?.close();
      pki?.remove();
    });

    it('checks each server against the name, not the address dialled', { timeout: TEST_TIMEOUT_MS }, async () => {
      // The certificate names localhost and 127.0.0.1; the server listens on 127.0.0.2 only,
      // which the certificate does not name: only the name carried through makes TLS succeed.
      const security = loadServerSecurity(
        { listen: '127.0.0.2:0', tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsClientCa: '', tokensFile: '', insecure: false },
        (p) => readFileSync(p),
      );
      harness = await startHarness({ listen: '127.0.0.2:0', maxConcurrentDfus: 1, jobRetention: 10, shutdownGraceMs: 2_000 }, silentLogger(), { security });
      const port = Number(harness.address.split(':').at(-1));
      const ca = pki.read(pki.files.ca);
      const byName = new BledfuFleet([`dns:///localhost:${port}`], { ca, resolve: async () => ['127.0.0.2'] });
      const byAddress = new BledfuFleet([`127.0.0.2:${port}`], { ca });
      try {
        const ok = await byName.adapters({ deadline: 10_000 });
        assert.deepEqual(ok.failures, []);
        assert.deepEqual(ok.results.map((r) => [r.server, r.value.map((x) => x.id)]), [[`127.0.0.2:${port}`, ['fake0']]]);
        // The control: dialled by address, the same certificate is refused.
        const refused = await byAddress.adapters({ deadline: 10_000 });
        assert.deepEqual(refused.results, []);
        assert.equal(refused.failures[0]?.error.grpcCode, Status.UNAVAILABLE);
      } finally {
        byName.close();
        byAddress.close();
      }
    });
  });
});
