/**
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR): the CRC Nordic's H5
 * link appends (the Bluetooth three-wire spec uses a different one, hence this own routine) and
 * the image CRC of legacy (nRF5 SDK ≤ 11) init packets, which the SDK's crc16_compute calculates
 * (spec §5: "Legacy CRC16").
 */

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** `previous` continues a CRC over several parts: crc16(b, crc16(a)) === crc16(a‖b). */
export function crc16(data: Uint8Array, previous = 0xffff): number {
  let crc = previous;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >>> 8) ^ b) & 0xff] as number);
  return crc;
}
