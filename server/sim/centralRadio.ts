/**
 * One radio per central. A controller (the virtual HCI controller, or the SoftDevice of the
 * simulated connectivity dongle) has a single transceiver: the connection events of all its links
 * take turns on it and never overlap, so each link's share of air time shrinks as links are
 * added and the central's aggregate throughput is bounded by one radio. The peripherals each have
 * their own radio (a simulated device holds one link at a time), so only the central is shared.
 *
 * The policy is a simplified form of what SoftDevice and Zephyr link-layer schedulers do
 * (docs/sim-model.md):
 * - a new link's first anchor, and a link's anchor after a connection update, is placed in the
 *   middle of the widest gap between the other links' anchors (as a central picks the transmit
 *   window offset), so N links at one interval get evenly spread slots;
 * - an event starts at its link's anchor only if the radio is free then; otherwise that event is
 *   lost and the link tries again at its next anchor;
 * - an event lasts at most the event length and the interval, and ends before the next scheduled
 *   event of another link of the same central starts (the slot of a link that has nothing to send
 *   is not reserved: the others may use it, like connection event length extension);
 * - when the slot is too short for even one packet exchange, the link that has lost more events
 *   in a row goes first (the other one's event is then lost), so no link starves: with slots
 *   shorter than one exchange, links take turns.
 * Everything is decided at the event's start from the modelled schedule, so it is deterministic.
 */

/** What the radio needs to know about one link of its central. */
export interface RadioLink {
  readonly id: number;
  /** When the link's next connection event is scheduled, if it has one (it has something to exchange). */
  readonly scheduledEventAt: number | undefined;
  /** Connection events the link lost in a row because the radio was taken. */
  readonly missedEvents: number;
  /** Its current anchor point and interval (the phase other links are spread against). */
  readonly anchorMs: number;
  readonly intervalMs: number;
}

/** The go-ahead for one connection event. */
export interface EventGrant {
  /** Air time the event may use, µs (at least enough for one exchange when `mustYield` is false). */
  readonly budgetUs: number;
  /**
   * When the budget is too short for one exchange: the consecutive events lost by the link whose
   * event ends the budget. The asking link goes ahead with a single exchange only if it has lost at
   * least as many; otherwise it yields (its event is lost).
   */
  readonly nextMissed: number;
}

/** One connection event as it used the air (or was lost), for tests and the model's documentation. */
export interface ConnectionEventRecord {
  readonly linkId: number;
  /** Modelled ms. */
  readonly start: number;
  readonly end: number;
  /** The radio was taken (busy, or given to a link that had waited longer): nothing crossed. */
  readonly lost: boolean;
  /** Payload octets carried, both directions. */
  readonly octets: number;
}

/** Float slack when comparing modelled instants computed from µs sums. */
const EPSILON_MS = 1e-6;

export class CentralRadio {
  #busyUntil = Number.NEGATIVE_INFINITY;

  /** Until when the radio is in use by an event already started. */
  get busyUntil(): number {
    return this.#busyUntil;
  }

  /**
   * The anchor of a link whose first (or first updated) anchor can be no earlier than `earliest`,
   * at `intervalMs`: `earliest` plus an offset in [0, interval) in the middle of the widest gap
   * between the other links' anchor phases. Alone, the link keeps `earliest`.
   */
  placeAnchor(earliest: number, intervalMs: number, others: readonly RadioLink[]): number {
    if (others.length === 0) return earliest;
    const mod = (x: number): number => ((x % intervalMs) + intervalMs) % intervalMs;
    const phases = [...new Set(others.map((o) => mod(o.anchorMs - earliest)))].sort((a, b) => a - b);
    let bestStart = 0;
    let bestGap = -1;
    for (const [i, p] of phases.entries()) {
      const next = i + 1 < phases.length ? (phases[i + 1] as number) : (phases[0] as number) + intervalMs;
      const gap = next - p;
      if (gap > bestGap + EPSILON_MS) {
        bestGap = gap;
        bestStart = p;
      }
    }
    return earliest + mod(bestStart + bestGap / 2);
  }

  /**
   * Asks for the radio at `at` (the link's anchor) for an event of at most `maxMs`. Undefined: the
   * radio is still in use by another event, this event is lost.
   */
  grant(link: RadioLink, at: number, maxMs: number, others: readonly RadioLink[]): EventGrant | undefined {
    if (this.#busyUntil > at + EPSILON_MS) return undefined;
    let end = at + maxMs;
    let nextMissed = -1;
    for (const o of others) {
      const t = o.scheduledEventAt;
      if (o.id === link.id || t === undefined || t < at - EPSILON_MS || t >= end) continue;
      if (t <= at + EPSILON_MS) {
        // Due at the very same instant: it runs after this one and finds the radio taken, unless it
        // has waited longer, in which case this one yields to it (budget 0).
        if (o.missedEvents > link.missedEvents) return { budgetUs: 0, nextMissed: o.missedEvents };
        continue;
      }
      end = t;
      nextMissed = o.missedEvents;
    }
    return { budgetUs: Math.max(0, (end - at) * 1000), nextMissed };
  }

  /** An event used the radio from `start` to `end`. */
  occupy(start: number, end: number): void {
    this.#busyUntil = Math.max(this.#busyUntil, start, end);
  }
}
