/**
 * CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR.
 * Check value: crc16("123456789") = 0x29B1.
 *
 * The legacy DFU of nRF5 SDK ≤ 11 protects an image with it: nrfutil 0.5.x and adafruit-nrfutil
 * write it into the init packet (`nordicsemi/dfu/crc16.py`, `calc_crc16(data, 0xffff)`), and the
 * bootloader compares it after the transfer (`crc16_compute(p_image, image_len, NULL)` in the
 * SDK 11 init packet template, as copied in Adafruit_nRF52_Bootloader `src/dfu_init.c`). The
 * CRC-16 values in the shared SDK 11 fixtures' manifests are this function of their images.
 * `previous` continues a CRC over data split in pieces: crc16(a‖b) === crc16(b, crc16(a)).
 */

/** One table lookup per byte instead of eight shifts: images are up to a megabyte. */
const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[n] = c;
  }
  return t;
})();

export function crc16(data: Uint8Array, previous = 0xffff): number {
  let crc = previous & 0xffff;
  for (const byte of data) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >>> 8) ^ byte) & 0xff] as number);
  return crc;
}
