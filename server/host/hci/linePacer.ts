/**
 * The host's end of a slow UART to an HCI controller, written so that small packets do not queue
 * behind bulk data.
 *
 * At 1 Mbaud a full ACL packet (H4 + header + 251 bytes) takes 2.56 ms on the wire. A host that
 * hands every packet to the line as soon as it has a controller buffer for it builds a backlog of
 * up to one packet per buffer — 8 × 2.56 ≈ 20 ms on a roomy controller. A DFU control-point
 * request of another link then waits behind all of it, reaches the controller after that link's
 * connection event has passed, and the link loses a whole interval (15 ms) per round trip: with 8
 * parallel DFUs, about a tenth of every link's transfer time.
 *
 * So packets go to the transport one at a time: a write on a paced line resolves only when the
 * line is nearly free (transport/linePace.ts), and the next one out is then the oldest *small*
 * packet waiting (HCI commands and ACL packets of at most SMALL_BYTES: ATT requests, responses,
 * confirmations, L2CAP signalling), else the oldest packet. Each link has at most one packet here
 * at a time (HciHost.sendAcl awaits each fragment), so a link's own packets keep their order. On a
 * pipe without a pace (a socket, the instant in-memory pair) writes resolve at once and packets go
 * out as they come.
 */

/** Largest H4 packet counted as small: a 20-byte ATT PDU in L2CAP (4) and ACL (4) with its H4 byte. */
export const SMALL_BYTES = 32;

interface Waiting<T> {
  readonly item: T;
  readonly small: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** Hands items (H4 packets) to `write` one at a time, small ones first among those waiting. */
export class LinePacer<T> {
  readonly #write: (item: T) => Promise<void>;
  readonly #waiting: Waiting<T>[] = [];
  #busy = false;
  #failure: { readonly error: unknown } | undefined;

  /** `write` puts one item on the transport; its promise resolves when the next may follow. */
  constructor(write: (item: T) => Promise<void>) {
    this.#write = write;
  }

  /** Resolves once the item's write resolved (rejects as it does). */
  send(item: T, size: number): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, small: size <= SMALL_BYTES, resolve, reject });
      this.#next();
    });
  }

  /** What waits, and everything sent later, fails with `error` (the transport is gone). */
  fail(error: unknown): void {
    this.#failure ??= { error };
    for (const w of this.#waiting.splice(0)) w.reject(error);
  }

  #next(): void {
    if (this.#busy || this.#waiting.length === 0) return;
    const i = this.#waiting.findIndex((w) => w.small);
    const [w] = this.#waiting.splice(i >= 0 ? i : 0, 1) as [Waiting<T>];
    this.#busy = true;
    let done: Promise<void>;
    try {
      done = this.#write(w.item);
    } catch (e) {
      done = Promise.reject(e);
    }
    done.then(w.resolve, w.reject).finally(() => {
      this.#busy = false;
      this.#next();
    });
  }
}
