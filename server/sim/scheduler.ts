/**
 * The simulator's clock: discrete events at modelled timestamps.
 *
 * Two ways to run:
 * - paced (`speed` finite): modelled time follows real time scaled by `speed` (1 = real time,
 *   for the demo);
 * - accelerated (`speed` = Infinity, for tests and CI): modelled time jumps from one event to
 *   the next as fast as the process allows. The model assumes an infinitely fast host: before
 *   time moves on, the host gets a few turns of the event loop to react to what the simulator
 *   sent it, so the modelled durations do not depend on the machine running the tests.
 *
 * In accelerated mode the host may also pause in real time (a reboot delay, say). If time kept
 * jumping from timer to timer meanwhile, a bootloader's 10 s continuation window could expire
 * during a 0.5 s pause of the host. So when the world is *parked* (the `isLive` predicate says
 * the host has nothing under way with the radio: no scan, no connection attempt, no link),
 * modelled time stands still until the host does something.
 */
import { BledfuError } from '../common/errors.js';

export interface TimerHandle {
  cancel(): void;
  readonly pending: boolean;
}

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly fn: () => void;
  cancelled: boolean;
  done: boolean;
}

/** Event-loop turns the host gets to react before modelled time moves on (accelerated mode). */
const HOST_REACTION_TURNS = 3;

export interface SchedulerOptions {
  /** 1 = real time; Infinity = as fast as possible. */
  readonly speed: number;
  /** Called when an event throws: the simulator reports it instead of crashing the host process. */
  readonly onError?: (error: unknown, label: string) => void;
}

export class SimScheduler {
  readonly speed: number;
  #now = 0;
  #seq = 0;
  readonly #heap: Entry[] = [];
  #closed = false;
  #idleTurns = 0;
  #pumping = false;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #isLive: () => boolean = () => true;
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

  /** Modelled milliseconds since the world was created. */
  nowMs(): number {
    if (!this.accelerated && !this.#closed) {
      const derived = this.#paceModel + (performance.now() - this.#paceReal) * this.speed;
      if (derived > this.#now) {
        // Never run past an event that is due but not yet run: that keeps event order causal.
        const next = this.#peek();
        this.#now = next === undefined ? derived : Math.min(derived, next.at);
      }
    }
    return this.#now;
  }

  /** Whether modelled time may advance while the host is quiet (see the module comment). */
  setLivenessProbe(isLive: () => boolean): void {
    this.#isLive = isLive;
  }

  at(timeMs: number, fn: () => void, label = 'event'): TimerHandle {
    if (this.#closed) return { cancel: () => undefined, pending: false };
    const entry: Entry = { at: Math.max(timeMs, this.nowMs()), seq: this.#seq++, label, fn, cancelled: false, done: false };
    this.#push(entry);
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

  after(delayMs: number, fn: () => void, label = 'event'): TimerHandle {
    return this.at(this.nowMs() + Math.max(0, delayMs), fn, label);
  }

  /** The host did something (bytes in or out): give it time to react before time moves on. */
  noteHostActivity(): void {
    this.#idleTurns = 0;
    this.#kick();
  }

  /** Number of events still waiting (cancelled ones excluded), for leak checks in tests. */
  pendingCount(): number {
    return this.#heap.filter((e) => !e.cancelled).length;
  }

  /** Pending event labels, soonest first (diagnostics). */
  pendingLabels(): string[] {
    return this.#heap
      .filter((e) => !e.cancelled)
      .sort((a, b) => a.at - b.at || a.seq - b.seq)
      .map((e) => `${e.label}@${e.at.toFixed(3)}`);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    for (const e of this.#heap) e.cancelled = true;
    this.#heap.length = 0;
  }

  #kick(): void {
    if (this.#closed) return;
    if (this.accelerated) {
      if (!this.#pumping) {
        this.#pumping = true;
        this.#immediate = setImmediate(() => this.#pumpAccelerated());
      }
    } else {
      this.#armPaced();
    }
  }

  // One pump at a time: `#pumping` stays set while the event runs, so the `at()` or
  // `noteHostActivity()` it calls does not arm a second pump beside this one. (Each extra pump
  // would run events too and arm more of its own: their number doubled every turn while the world
  // stayed live, racing modelled time and piling up immediates without bound.)
  #pumpAccelerated(): void {
    this.#immediate = undefined;
    if (this.#closed) {
      this.#pumping = false;
      return;
    }
    this.#dropCancelledHead();
    const next = this.#peek();
    if (next !== undefined && next.at > this.#now) {
      if (this.#idleTurns < HOST_REACTION_TURNS) {
        this.#idleTurns++;
        this.#immediate = setImmediate(() => this.#pumpAccelerated());
        return;
      }
    }
    // Nothing to run, or parked: time stands still until the host acts (noteHostActivity kicks us again).
    if (next === undefined || (next.at > this.#now && !this.#isLive())) {
      this.#pumping = false;
      return;
    }
    this.#runNext();
    if (this.#closed) {
      this.#pumping = false;
      return;
    }
    this.#immediate = setImmediate(() => this.#pumpAccelerated());
  }

  #armPaced(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dropCancelledHead();
    const next = this.#peek();
    if (next === undefined || this.#closed) return;
    const realDue = this.#paceReal + (next.at - this.#paceModel) / this.speed;
    const wait = Math.max(0, realDue - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const due = this.#peek();
      if (due !== undefined && !this.#closed) {
        const derived = this.#paceModel + (performance.now() - this.#paceReal) * this.speed;
        if (due.at <= derived + 0.001) this.#runNext();
      }
      this.#armPaced();
    }, wait);
  }

  #runNext(): void {
    const entry = this.#pop();
    if (entry === undefined) return;
    if (entry.at > this.#now) this.#now = entry.at;
    entry.done = true;
    try {
      entry.fn();
    } catch (error) {
      this.#onError(error, entry.label);
    }
  }

  #dropCancelledHead(): void {
    while (this.#heap.length > 0 && (this.#heap[0] as Entry).cancelled) this.#pop();
  }

  #peek(): Entry | undefined {
    this.#dropCancelledHead();
    return this.#heap[0];
  }

  // Binary min-heap on (at, seq): events at the same instant run in the order they were scheduled.
  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(entry: Entry): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as Entry, h[p] as Entry)) break;
      [h[i], h[p]] = [h[p] as Entry, h[i] as Entry];
      i = p;
    }
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
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
        if (l < h.length && this.#less(h[l] as Entry, h[m] as Entry)) m = l;
        if (r < h.length && this.#less(h[r] as Entry, h[m] as Entry)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
        i = m;
      }
    }
    return top;
  }
}
