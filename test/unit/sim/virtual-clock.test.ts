/**
 * The accelerated simulator's clock as the server's clock: host timers and simulator events in one
 * (time, seq) order; time jumps only to what may pull it (a foreground host timer, a simulator
 * event of a live world), never for a background timer; and never while the process still has
 * something to do (an I/O request in flight, another immediate pending).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, open, openSync, closeSync, rmSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { virtualClock, type VirtualClock } from '../../../server/sim/clock.js';
import { processIsIdle, SimScheduler } from '../../../server/sim/scheduler.js';

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

function setup(start = 1_700_000_000_000): { s: SimScheduler; clock: VirtualClock; live: { value: boolean } } {
  const s = new SimScheduler({ speed: Number.POSITIVE_INFINITY });
  const live = { value: false };
  s.addLivenessProbe(() => live.value);
  return { s, clock: virtualClock(s, start), live };
}

describe('virtual clock (accelerated simulator)', () => {
  it('reads the start instant plus modelled time, and a sleep costs modelled time only', async () => {
    const { s, clock } = setup(1_000);
    try {
      assert.equal(clock.kind, 'virtual');
      assert.equal(clock.now(), 1_000);
      await clock.sleep(10_000);
      assert.equal(clock.now(), 11_000);
      assert.equal(s.nowMs(), 10_000);
    } finally {
      s.close();
    }
  });

  it('a hold taken through one clock of a scheduler is released through another clock of the same scheduler', async () => {
    // The station's clock and the clock its server's registry makes share one scheduler: a client
    // holds through the first, the server releases through the second.
    const { s, clock } = setup(0);
    const server = virtualClock(s, 0);
    try {
      const id = clock.hold();
      let fired = false;
      clock.setTimer(1_000, () => {
        fired = true;
      });
      await turns(20);
      assert.equal(fired, false, 'held: time stands still');
      assert.equal(s.nowMs(), 0);
      server.release(id);
      await clock.sleep(2_000);
      assert.equal(fired, true);
      // Ids are unique per scheduler: the server's own hold is not the client's.
      assert.notEqual(server.hold(), clock.hold());
    } finally {
      s.close();
    }
  });

  it('runs host timers and simulator events in one (time, seq) order', async () => {
    const { s, clock } = setup();
    const seen: string[] = [];
    try {
      clock.setTimer(30, () => seen.push('host@30'));
      s.after(10, () => seen.push('sim@10'));
      s.after(30, () => seen.push('sim@30'));
      clock.setTimer(10, () => seen.push('host@10'));
      s.after(50, () => seen.push('sim@50 (after the last host timer: parked)'));
      await clock.sleep(40);
      assert.deepEqual(seen, ['sim@10', 'host@10', 'host@30', 'sim@30']);
      assert.equal(s.nowMs(), 40);
      await turns(20);
      assert.equal(s.nowMs(), 40, 'a parked world does not pull time by itself');
    } finally {
      s.close();
    }
  });

  it('a background timer never pulls time, but fires when a foreground wait passes it', async () => {
    const { s, clock } = setup();
    let fired = 0;
    try {
      clock.setTimer(500, () => fired++, { background: true });
      await turns(50);
      assert.equal(fired, 0);
      assert.equal(s.nowMs(), 0, 'time stood still with only a background timer');
      await clock.sleep(499);
      assert.equal(fired, 0);
      await clock.sleep(1);
      await turns(2);
      assert.equal(fired, 1, 'fired once time reached it');
      assert.equal(s.nowMs(), 500);
    } finally {
      s.close();
    }
  });

  it('keeps a parked world parked: its events run only while it is live or time passes them', async () => {
    const { s, clock, live } = setup();
    const seen: number[] = [];
    try {
      for (const t of [100, 200, 300]) s.after(t, () => seen.push(t));
      await turns(30);
      assert.deepEqual(seen, [], 'parked: the advertising events wait');
      await clock.sleep(150);
      assert.deepEqual(seen, [100], 'a host wait moves time past the first one only');
      live.value = true;
      s.noteHostActivity();
      // A real-time wait: the test's own immediates would count as work still to do.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, [100, 200, 300], 'live: the world moves on by itself');
    } finally {
      s.close();
    }
  });

  it('a cancelled timer neither fires nor pulls time', async () => {
    const { s, clock } = setup();
    let fired = false;
    try {
      const t = clock.setTimer(1_000, () => (fired = true));
      t.cancel();
      await turns(30);
      assert.equal(fired, false);
      assert.equal(s.nowMs(), 0);
      const signal = new AbortController();
      const sleeping = clock.sleep(5_000, signal.signal);
      await turns(2);
      signal.abort();
      await assert.rejects(sleeping, (e: unknown) => (e as { code?: string }).code === 'CANCELLED');
      await turns(30);
      assert.equal(s.nowMs(), 0, 'an aborted sleep left nothing that pulls time');
      assert.equal(s.pendingCount(['host']), 0);
    } finally {
      s.close();
    }
  });

  it('timeoutSignal aborts with the typed error at its modelled deadline', async () => {
    const { s, clock } = setup();
    try {
      const t = clock.timeoutSignal({ ms: 20_000, code: 'DFU_TIMEOUT', layer: 'dfu', message: 'no answer' });
      const reason = await new Promise<unknown>((resolve) => t.signal.addEventListener('abort', () => resolve(t.signal.reason), { once: true }));
      assert.equal((reason as { code?: string }).code, 'DFU_TIMEOUT');
      assert.equal(s.nowMs(), 20_000);
      t.dispose();
    } finally {
      s.close();
    }
  });

  it('does not move time while another immediate chain is still working (e.g. unzipping a package)', async () => {
    const { s, clock } = setup();
    let chain = 0;
    let chainDoneAt: number | undefined;
    try {
      const step = (): void => {
        if (++chain < 200) setImmediate(step);
        else chainDoneAt = s.nowMs();
      };
      setImmediate(step);
      await clock.sleep(1_000);
      assert.equal(chainDoneAt, 0, 'the chain ran to its end before modelled time moved');
    } finally {
      s.close();
    }
  });

  it('does not move time while a file request is in flight', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bledfu-clock-'));
    const fifo = join(dir, 'fifo');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      rmSync(dir, { recursive: true, force: true });
      t.skip('no mkfifo here');
      return;
    }
    const { s, clock } = setup();
    try {
      // Opening a FIFO for reading blocks (in libuv's thread pool) until a writer comes: an
      // FSReqCallback in flight for as long as the test wants.
      let opened: number | undefined;
      open(fifo, 'r', (err, fd) => {
        if (err === null) opened = fd;
      });
      assert.equal(processIsIdle(), false, 'the open is an I/O request in flight');
      let fired = false;
      clock.setTimer(10_000, () => (fired = true));
      await turns(200);
      assert.equal(fired, false, 'the scan timeout waited for the I/O');
      assert.equal(s.nowMs(), 0);
      const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        await clock.sleep(10_000);
        assert.equal(fired, true);
        assert.notEqual(opened, undefined, 'the request completed before time moved');
      } finally {
        closeSync(writer);
        if (opened !== undefined) closeSync(opened);
      }
    } finally {
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two accelerated schedulers in one process do not wait for each other', async () => {
    const a = setup();
    const b = setup();
    try {
      await Promise.all([a.clock.sleep(1_000), b.clock.sleep(2_000)]);
      assert.equal(a.s.nowMs(), 1_000);
      assert.equal(b.s.nowMs(), 2_000);
    } finally {
      a.s.close();
      b.s.close();
    }
  });

  it('draws random() from a seeded generator: two fresh clocks give the same sequence, in [0, 1)', () => {
    // The server's chance (a bootloader's random name) changes bytes on the simulated line and so
    // modelled times: on the simulator it must repeat from server to server.
    const a = setup();
    const b = setup();
    try {
      const xs = Array.from({ length: 20 }, () => a.clock.random());
      const ys = Array.from({ length: 20 }, () => b.clock.random());
      assert.deepEqual(xs, ys);
      assert.ok(xs.every((x) => x >= 0 && x < 1), xs.join(' '));
      assert.ok(new Set(xs).size > 15, 'a generator, not a constant');
    } finally {
      a.s.close();
      b.s.close();
    }
  });
});
