/**
 * How people read a DFU protocol's name: one spelling for the CLI's lines, `pkg display` and the
 * server's messages, so "legacy DFU" means the same everywhere.
 */
import type { DfuProtocol } from './images.js';

/** "Secure DFU", "legacy DFU (SDK ≤ 11 / Adafruit)": which bootloaders a package of the protocol is for. */
export const DFU_PROTOCOL_TEXT = {
  secure: 'Secure DFU',
  legacy: 'legacy DFU (SDK ≤ 11 / Adafruit)',
} as const satisfies Record<DfuProtocol, string>;
