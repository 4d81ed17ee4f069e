/**
 * CRC-32 (ISO-HDLC, as zlib) with continuation: crc32(a‖b) === crc32(b, crc32(a)).
 * Secure DFU reports this over the init packet and over the whole image from byte 0.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous) >>> 0;
}
