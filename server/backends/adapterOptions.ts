import type { AdapterKind } from '../ble/types.js';
import type { Logger } from '../common/logger.js';
import type { Clock } from '../common/clock.js';

/** What every backend's adapter is given, whatever the dongle speaks. */
export interface AdapterBaseOptions {
  readonly id: string;
  readonly spec: string;
  readonly kind: AdapterKind;
  readonly logger: Logger;
  /** Links held at once (and so DFUs running) on this adapter. */
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly attTimeoutMs?: number;
  /** The server's clock: every wait of the adapter (commands or responses, ATT, connecting, the link). Default the real clock. */
  readonly clock?: Clock;
}
