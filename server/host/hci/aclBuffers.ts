/**
 * The controller's ACL data buffers, shared by every link on the dongle, handed out fairly.
 *
 * A controller such as Zephyr's hci_uart announces only a handful of small LE ACL buffers
 * (e.g. 3 × 27 bytes) for all its connections, and returns them one connection event at a time.
 * Served first come, first served, one link streaming DFU data re-queues for a buffer as soon as
 * one frees and ends up holding all of them while the other links wait. Instead, each buffer
 * that frees goes to the waiting link with the fewest buffers in flight (ties: the one served
 * longest ago), and while other links wait no link may hold more than its fair share,
 * ceil(total / active links), where a link is active if it waits or has buffers in flight.
 *
 * The accounting (per link: fragments sent, times it had to wait, most buffers it held at once,
 * times it waited while a buffer went to a link already over its share) is what tests assert on.
 */
import type { AclBufferAccounting, AclLinkAccounting } from '../../ble/types.js';
import { abortReason } from '../../common/errors.js';

export type { AclBufferAccounting, AclLinkAccounting };

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface LinkState {
  readonly handle: number;
  inFlight: number;
  readonly waiters: Waiter[];
  /** Grant order of the link's last buffer: the smaller, the longer ago it was served. */
  lastGrant: number;
  packetsSent: number;
  waits: number;
  maxInFlight: number;
  unfairWaits: number;
}

export class AclBufferScheduler {
  readonly #total: number;
  #available: number;
  readonly #links = new Map<number, LinkState>();
  #grants = 0;
  #failure: unknown = undefined;

  constructor(totalBuffers: number) {
    this.#total = totalBuffers;
    this.#available = totalBuffers;
  }

  get available(): number {
    return this.#available;
  }

  /** Buffers `handle` holds now (sent, not yet reported completed). */
  inFlight(handle: number): number {
    return this.#links.get(handle)?.inFlight ?? 0;
  }

  /** Takes one buffer for a fragment on `handle`, waiting its fair turn for it. */
  acquire(handle: number, signal?: AbortSignal): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const link = this.#link(handle);
    if (this.#available > 0 && !this.#anyWaiting()) {
      this.#grant(link);
      return Promise.resolve();
    }
    link.waits++;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = link.waiters.indexOf(waiter);
          if (i >= 0) link.waiters.splice(i, 1);
          reject(abortReason(signal as AbortSignal));
          // Its leaving may make another link eligible (fewer active links, a larger share).
          this.#dispatch();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      link.waiters.push(waiter);
      this.#dispatch();
    });
  }

  /** Gives back a buffer acquired but not used (the fragment was never sent). */
  unused(handle: number): void {
    const link = this.#links.get(handle);
    if (link === undefined || link.inFlight === 0) return;
    link.inFlight--;
    link.packetsSent--;
    this.#available++;
    this.#dispatch();
  }

  /** Number Of Completed Packets for `handle`: frees at most what the link holds. */
  completed(handle: number, count: number): void {
    const link = this.#links.get(handle);
    if (link === undefined) return;
    const freed = Math.min(link.inFlight, count);
    if (freed <= 0) return;
    link.inFlight -= freed;
    this.#available += freed;
    this.#dispatch();
  }

  /** The link is gone: its unacknowledged buffers count as freed (Core Vol 4, Part E, 4.3). */
  linkGone(handle: number): void {
    const link = this.#links.get(handle);
    if (link === undefined) return;
    const freed = link.inFlight;
    link.inFlight = 0;
    this.#available += freed;
    this.#dispatch();
  }

  /** Every waiter, now and later, gets `error`. */
  fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const link of this.#links.values()) {
      for (const w of link.waiters.splice(0)) {
        w.signal?.removeEventListener('abort', w.onAbort);
        w.reject(error);
      }
    }
  }

  accounting(): AclBufferAccounting {
    return {
      total: this.#total,
      available: this.#available,
      links: [...this.#links.values()]
        .sort((a, b) => a.handle - b.handle)
        .map(({ handle, packetsSent, waits, maxInFlight, unfairWaits }) => ({ handle, packetsSent, waits, maxInFlight, unfairWaits })),
    };
  }

  #link(handle: number): LinkState {
    let link = this.#links.get(handle);
    if (link === undefined) {
      link = { handle, inFlight: 0, waiters: [], lastGrant: 0, packetsSent: 0, waits: 0, maxInFlight: 0, unfairWaits: 0 };
      this.#links.set(handle, link);
    }
    return link;
  }

  #anyWaiting(): boolean {
    for (const link of this.#links.values()) if (link.waiters.length > 0) return true;
    return false;
  }

  /** ceil(total / active links); a link is active if it waits or holds buffers. */
  #fairShare(): number {
    let active = 0;
    for (const link of this.#links.values()) if (link.waiters.length > 0 || link.inFlight > 0) active++;
    return Math.max(1, Math.ceil(this.#total / Math.max(1, active)));
  }

  #grant(link: LinkState): void {
    this.#available--;
    link.inFlight++;
    link.packetsSent++;
    link.lastGrant = ++this.#grants;
    if (link.inFlight > link.maxInFlight) link.maxInFlight = link.inFlight;
  }

  #dispatch(): void {
    if (this.#failure !== undefined) return;
    while (this.#available > 0) {
      const waiting = [...this.#links.values()].filter((l) => l.waiters.length > 0);
      if (waiting.length === 0) return;
      const share = this.#fairShare();
      // Alone, a link may use every free buffer; with others waiting, only up to its share. A
      // buffer left free because every waiting link is at its share is not lost: those links
      // hold buffers, so completions will come and make one of them eligible again.
      const eligible = waiting.length === 1 ? waiting : waiting.filter((l) => l.inFlight < share);
      let next: LinkState | undefined;
      for (const l of eligible) {
        if (next === undefined || l.inFlight < next.inFlight || (l.inFlight === next.inFlight && l.lastGrant < next.lastGrant)) next = l;
      }
      if (next === undefined) return;
      const waiter = next.waiters.shift() as Waiter;
      this.#grant(next);
      if (next.inFlight > share) {
        for (const other of waiting) if (other !== next && other.waiters.length > 0) other.unfairWaits++;
      }
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
  }
}
