/** Timers that fire only when the test says so: no wall-clock waits in timeout tests. */
import type { Timers } from '../../server/host/hci/timers.js';

export class ManualTimers implements Timers {
  #next = 1;
  readonly #pending = new Map<number, { fn: () => void; ms: number }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  get pending(): number {
    return this.#pending.size;
  }
  /** Fires every pending timer of exactly `ms` (e.g. the ATT 30 s timer). */
  fire(ms: number): number {
    let n = 0;
    for (const [id, t] of [...this.#pending]) {
      if (t.ms !== ms) continue;
      this.#pending.delete(id);
      t.fn();
      n++;
    }
    return n;
  }
}

/** Lets queued microtasks and memory-pipe deliveries run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
