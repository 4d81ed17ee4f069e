/**
 * The devices this server holds a link to for an open Connect call, and who opened it. A
 * connected peripheral stops advertising, so a DFU of it would scan for its whole scan timeout
 * and end DEVICE_NOT_FOUND, blaming the device; StartDfu asks here first and says instead that
 * the device is connected, by whom, and how to let it go.
 */
import type { DeviceAddress } from '../ble/address.js';
import type { Clock } from '../common/clock.js';
import { BledfuError } from '../common/errors.js';
import { quoteInput } from '../common/quote.js';
import type { DfuTarget } from '../dfu/types.js';

export interface ConnectSession {
  readonly adapterId: string;
  readonly address: DeviceAddress;
  /** The advertised name when the scan heard it, or the name the Connect call asked for. */
  readonly name: string | undefined;
  /** host:port of the Connect call's client. */
  readonly peer: string;
  /** The caller's authenticated identity, when the server authenticates callers. */
  readonly identity: string | undefined;
  /** When the link came up, on the server's clock (ms since the epoch). */
  readonly since: number;
  /** Aborts when the link goes down (the session may outlive it by a moment). */
  readonly closed: AbortSignal;
}

export class ConnectSessions {
  readonly #open = new Set<ConnectSession>();

  /** Records a session; the returned function forgets it (call it when the Connect call ends). */
  add(session: ConnectSession): () => void {
    this.#open.add(session);
    return () => {
      this.#open.delete(session);
    };
  }

  /** The open session whose link is up to the device `target` names, if any. */
  holding(target: DfuTarget): ConnectSession | undefined {
    for (const s of this.#open) {
      if (s.closed.aborted) continue;
      // Address types from user input are often guessed: only the value is compared (as a scan does).
      if (target.kind === 'address' ? s.address.value === target.address.value : s.name === target.name) return s;
    }
    return undefined;
  }

  get size(): number {
    return this.#open.size;
  }
}

/** DEVICE_CONNECTED for a DFU of a device `session` holds. */
export function deviceConnectedError(target: DfuTarget, session: ConnectSession, clock: Pick<Clock, 'now'>): BledfuError {
  const device = target.kind === 'address' ? `device ${session.address.value}` : `device named ${quoteInput(target.name)} (${session.address.value})`;
  const who = session.identity === undefined ? session.peer : `${session.identity} at ${session.peer}`;
  const since = new Date(session.since).toISOString();
  const heldMs = Math.max(0, clock.now() - session.since);
  return new BledfuError(
    'DEVICE_CONNECTED',
    `${device} is connected through this server: a Connect call from ${who} on adapter ${session.adapterId} has held its link since ${since} (${Math.round(heldMs / 1000)} s); a connected device does not advertise, so a DFU cannot reach it`,
    {
      layer: 'rpc',
      remedy: 'close that Connect call (end the `bledfu connect` session, e.g. with Ctrl-C) so the device advertises again, then start the DFU',
      facts: {
        context: {
          address: session.address.value,
          adapterId: session.adapterId,
          method: 'Connect',
          peer: session.peer,
          ...(session.identity === undefined ? {} : { identity: session.identity }),
          since,
        },
      },
    },
  );
}
