/**
 * Link-layer numbers the air model uses to turn bytes into air time (Core Vol 6, Part B, 2.1 and
 * 4.1; spec §8.3 for the event length and the "≈2.5 ms per 244-byte packet" figure they give).
 */
export type Phy = '1M' | '2M';

export interface RadioConfig {
  /** Inter-frame space, µs. */
  readonly ifsUs: number;
  /** Connection event length the peripheral's SoftDevice grants (NRF_SDH_BLE_GAP_EVENT_LENGTH 6 × 1.25 ms). */
  readonly eventLengthMs: number;
  /** LL data PDU payload before a Data Length Update (27 octets). */
  readonly defaultDataLength: number;
  /** Largest LL payload either side supports (251 with DLE). */
  readonly maxDataLength: number;
  /** Connection events a connection update waits before taking effect (the "instant"). */
  readonly updateInstantEvents: number;
}

export const DEFAULT_RADIO = {
  ifsUs: 150,
  eventLengthMs: 7.5,
  defaultDataLength: 27,
  maxDataLength: 251,
  updateInstantEvents: 6,
} as const satisfies RadioConfig;

/** Preamble, access address, header and CRC around an LL payload (no MIC: links are unencrypted). */
function overheadOctets(phy: Phy): number {
  return (phy === '2M' ? 2 : 1) + 4 + 2 + 3;
}

/** Air time of one LL data PDU carrying `payload` octets, in µs. */
export function pduAirTimeUs(payload: number, phy: Phy): number {
  const octets = overheadOctets(phy) + payload;
  return phy === '2M' ? octets * 4 : octets * 8;
}
