/**
 * The simulator's clock: discrete events at modelled timestamps.
 *
 * Two ways to run:
 * - paced (`speed` finite): modelled time follows real time scaled by `speed` (1 = real time,
 *   for the demo). The host runs on the real clock beside it.
 * - accelerated (`speed` = Infinity, for tests, CI and the station simulation): modelled time
 *   jumps from one entry to the next as fast as the process allows, and the whole server runs on
 *   it (sim/clock.ts): the host's timers are entries of the same queue as the simulator's events,
 *   so everything happens in one (time, sequence) order.
 *
 * Accelerated, time moves on only when the process has nothing else to do: the host had a few
 * event-loop turns to react to what it last received (its bytes from the simulator, its timer
 * that fired), no other immediate is pending (async work in chunks, e.g. unzipping a package) and
 * no I/O request is in flight (a file write, a socket write). Then time jumps to the earliest entry
 * that may *pull* it, running every entry due before it in (time, seq) order:
 * - a host timer (`host`) always pulls: a 10 s scan timeout costs no real time;
 * - a simulator event (`sim`) pulls only while the world is *live* (a liveness probe says the host
 *   has something under way with the radio: a scan, a connection attempt, a link, bytes on a
 *   line). A world nobody uses is *parked*: a server idle between CLI calls does not race through
 *   advertising events or expire bootloader timers;
 * - a `background` timer never pulls (periodic retries, housekeeping): it runs only when time
 *   passes it for another reason.
 * With nothing that may pull, time stands still until the host acts.
 */
import { BledfuError } from '../common/errors.js';

export interface TimerHandle {
  cancel(): void;
  readonly pending: boolean;
}

/** Who an entry belongs to, which decides whether it may pull modelled time (module comment). */
export type EntryKind = 'sim' | 'host' | 'background';

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly kind: EntryKind;
  readonly fn: () => void;
  cancelled: boolean;
  done: boolean;
}

/** Event-loop turns the host gets to react before modelled time moves on (accelerated mode). */
const HOST_REACTION_TURNS = 3;
/**
 * Turns spent waiting for I/O in flight with setImmediate before waiting with 1 ms timers
 * instead (a slow disk must not spin a core).
 */
const BUSY_WAIT_TURNS = 64;

/** A request libuv still works on (file operation, socket write or connect, DNS lookup…), by its resource name. */
const IO_REQUEST = /Req|WriteWrap|ShutdownWrap|ConnectWrap|SendWrap/;

/**
 * Pump immediates of every accelerated scheduler of the process that are scheduled but not run:
 * they are not "other work" (two schedulers must not each wait for the other's pump).
 */
let pendingPumps = 0;

/**
 * Whether the process has nothing else to do: no immediate pending but the schedulers' own pumps,
 * and no I/O request in flight. Costs about half a microsecond with a few dozen resources, and is
 * called only when time is about to move.
 */
export function processIsIdle(): boolean {
  let immediates = 0;
  for (const name of process.getActiveResourcesInfo()) {
    if (name === 'Immediate') immediates++;
    else if (IO_REQUEST.test(name)) return false;
  }
  return immediates <= pendingPumps;
}

export interface SchedulerOptions {
  /** 1 = real time; Infinity = as fast as possible. */
  readonly speed: number;
  /** Called when an event throws: the simulator reports it instead of crashing the host process. */
  readonly onError?: (error: unknown, label: string) => void;
}

/** A binary min-heap on (at, seq): entries at the same instant run in the order they were scheduled. */
class EntryHeap {
  readonly #h: Entry[] = [];

  get size(): number {
    return this.#h.length;
  }

  entries(): readonly Entry[] {
    return this.#h;
  }

  /** The earliest entry not cancelled (cancelled ones at the head are dropped). */
  peek(): Entry | undefined {
    while (this.#h.length > 0 && (this.#h[0] as Entry).cancelled) this.pop();
    return this.#h[0];
  }

  clear(): void {
    for (const e of this.#h) e.cancelled = true;
    this.#h.length = 0;
  }

  static less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  push(entry: Entry): void {
    const h = this.#h;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!EntryHeap.less(h[i] as Entry, h[p] as Entry)) break;
      [h[i], h[p]] = [h[p] as Entry, h[i] as Entry];
      i = p;
    }
  }

  pop(): Entry | undefined {
    const h = this.#h;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined) return undefined;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && EntryHeap.less(h[l] as Entry, h[m] as Entry)) m = l;
        if (r < h.length && EntryHeap.less(h[r] as Entry, h[m] as Entry)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
        i = m;
      }
    }
    return top;
  }
}

export class SimScheduler {
  readonly speed: number;
  #now = 0;
  #seq = 0;
  /** One heap per kind, so the earliest entry that may pull time is found at once. */
  readonly #heaps: Record<EntryKind, EntryHeap> = { sim: new EntryHeap(), host: new EntryHeap(), background: new EntryHeap() };
  #closed = false;
  /** Holds taken (hold()) and not released: time stands still while there are any. */
  #holds = 0;
  #idleTurns = 0;
  #busyTurns = 0;
  #pumping = false;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  readonly #liveness = new Set<() => boolean>();
  readonly #onError: (error: unknown, label: string) => void;
  // Paced mode: the real instant that corresponds to modelled time `#paceModel`.
  #paceReal = 0;
  #paceModel = 0;

  constructor(options: SchedulerOptions) {
    if (!(options.speed > 0)) {
      throw new BledfuError('INVALID_ARGUMENT', `simulator speed must be > 0, got ${options.speed}`, { layer: 'sim' });
    }
    this.speed = options.speed;
    this.#onError = options.onError ?? ((e) => queueMicrotask(() => { throw e; }));
    this.#paceReal = performance.now();
  }

  get accelerated(): boolean {
    return this.speed === Number.POSITIVE_INFINITY;
  }

  /** Modelled milliseconds since the scheduler was created. */
  nowMs(): number {
    if (!this.accelerated && !this.#closed) {
      const derived = this.#paceModel + (performance.now() - this.#paceReal) * this.speed;
      if (derived > this.#now) {
        // Never run past an event that is due but not yet run: that keeps event order causal.
        const next = this.#head();
        this.#now = next === undefined ? derived : Math.min(derived, next.at);
      }
    }
    return this.#now;
  }

  /**
   * Adds a predicate saying whether a world has something under way with the radio, so that its
   * events may pull modelled time (see the module comment); time may move while any says so.
   * Returns the function removing it.
   */
  addLivenessProbe(isLive: () => boolean): () => void {
    this.#liveness.add(isLive);
    this.#kick();
    return () => {
      this.#liveness.delete(isLive);
    };
  }

  /** A simulator event at modelled time `timeMs` (never in the past). */
  at(timeMs: number, fn: () => void, label = 'event', kind: EntryKind = 'sim'): TimerHandle {
    if (this.#closed) return { cancel: () => undefined, pending: false };
    const entry: Entry = { at: Math.max(timeMs, this.nowMs()), seq: this.#seq++, label, kind, fn, cancelled: false, done: false };
    this.#heaps[kind].push(entry);
    this.#kick();
    return {
      cancel: () => {
        entry.cancelled = true;
      },
      get pending() {
        return !entry.cancelled && !entry.done;
      },
    };
  }

  /** A simulator event `delayMs` from now. */
  after(delayMs: number, fn: () => void, label = 'event', kind: EntryKind = 'sim'): TimerHandle {
    return this.at(this.nowMs() + Math.max(0, delayMs), fn, label, kind);
  }

  /**
   * Holds modelled time still (accelerated mode) while something the process cannot see is under
   * way — a gRPC request on its way from an in-process client into the server — so that it
   * arrives at the modelled instant it was sent. Entries due now still run. Returns the release
   * function (idempotent).
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.noteHostActivity();
    };
  }

  /** The host did something (bytes in or out): give it time to react before time moves on. */
  noteHostActivity(): void {
    this.#idleTurns = 0;
    this.#kick();
  }

  /** Number of entries still waiting (cancelled ones excluded), for leak checks in tests. */
  pendingCount(kinds: readonly EntryKind[] = ['sim', 'host', 'background']): number {
    return kinds.reduce((n, k) => n + this.#heaps[k].entries().filter((e) => !e.cancelled).length, 0);
  }

  /** Pending entry labels, soonest first (diagnostics). */
  pendingLabels(): string[] {
    return Object.values(this.#heaps)
      .flatMap((h) => h.entries().filter((e) => !e.cancelled))
      .sort((a, b) => a.at - b.at || a.seq - b.seq)
      .map((e) => `${e.kind === 'sim' ? '' : `${e.kind}: `}${e.label}@${e.at.toFixed(3)}`);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) {
      clearImmediate(this.#immediate);
      pendingPumps--;
    }
    this.#timer = undefined;
    this.#immediate = undefined;
    for (const h of Object.values(this.#heaps)) h.clear();
  }

  #kick(): void {
    if (this.#closed) return;
    if (this.accelerated) {
      if (!this.#pumping) {
        this.#pumping = true;
        this.#schedulePump();
      }
    } else {
      this.#armPaced();
    }
  }

  #schedulePump(): void {
    pendingPumps++;
    this.#immediate = setImmediate(() => {
      pendingPumps--;
      this.#immediate = undefined;
      this.#pumpAccelerated();
    });
  }

  /** Whether any world has something under way; a scheduler without worlds (bare tests of the air) is always live. */
  #isLive(): boolean {
    if (this.#liveness.size === 0) return true;
    for (const probe of this.#liveness) if (probe()) return true;
    return false;
  }

  /** The earliest entry of any kind. */
  #head(): Entry | undefined {
    let best: Entry | undefined;
    for (const h of Object.values(this.#heaps)) {
      const e = h.peek();
      if (e !== undefined && (best === undefined || EntryHeap.less(e, best))) best = e;
    }
    return best;
  }

  /** Whether something may pull time forward now: a host timer, or a simulator event of a live world. */
  #mayAdvance(): boolean {
    if (this.#heaps.host.peek() !== undefined) return true;
    return this.#heaps.sim.peek() !== undefined && this.#isLive();
  }

  // One pump at a time: `#pumping` stays set while an entry runs, so the `at()` or
  // `noteHostActivity()` it calls does not arm a second pump beside this one. (Each extra pump
  // would run entries too and arm more of its own: their number doubled every turn while the world
  // stayed live, racing modelled time and piling up immediates without bound.)
  #pumpAccelerated(): void {
    if (this.#closed) {
      this.#pumping = false;
      return;
    }
    const next = this.#head();
    if (next === undefined) {
      this.#pumping = false;
      return;
    }
    if (next.at > this.#now) {
      // Parked or held: time stands still until the host acts (a new entry, noteHostActivity or
      // a released hold kicks us again).
      if (this.#holds > 0 || !this.#mayAdvance()) {
        this.#pumping = false;
        return;
      }
      if (this.#idleTurns < HOST_REACTION_TURNS) {
        this.#idleTurns++;
        this.#schedulePump();
        return;
      }
      if (!processIsIdle()) {
        // Still busy: wait, without spinning a core on a slow disk.
        if (++this.#busyTurns <= BUSY_WAIT_TURNS) this.#schedulePump();
        else
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#pumpAccelerated();
          }, 1);
        return;
      }
      this.#busyTurns = 0;
    }
    this.#runNext();
    if (this.#closed) {
      this.#pumping = false;
      return;
    }
    this.#schedulePump();
  }

  #armPaced(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const next = this.#head();
    if (next === undefined || this.#closed) return;
    const realDue = this.#paceReal + (next.at - this.#paceModel) / this.speed;
    const wait = Math.max(0, realDue - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const due = this.#head();
      if (due !== undefined && !this.#closed) {
        const derived = this.#paceModel + (performance.now() - this.#paceReal) * this.speed;
        if (due.at <= derived + 0.001) this.#runNext();
      }
      this.#armPaced();
    }, wait);
  }

  #runNext(): void {
    const entry = this.#head();
    if (entry === undefined) return;
    this.#heaps[entry.kind].pop();
    if (entry.at > this.#now) this.#now = entry.at;
    entry.done = true;
    // A host timer firing is host activity: the host gets its turns to react before time moves on.
    if (entry.kind !== 'sim') this.#idleTurns = 0;
    try {
      entry.fn();
    } catch (error) {
      this.#onError(error, entry.label);
    }
  }
}
