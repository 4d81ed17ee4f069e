/**
 * Nordic's ECDSA signature layout (r‖s, each 32 bytes little-endian) ⇄ the DER ECDSA-Sig-Value
 * openssl reads and writes, for checking bledfu's signatures with openssl.
 */
import { reverseHalves } from '../../server/dfu/package/signature.js';

function derInteger(be: Uint8Array): number[] {
  let i = 0;
  while (i < be.length - 1 && be[i] === 0) i++;
  const body = [...be.subarray(i)];
  if ((body[0] as number) & 0x80) body.unshift(0);
  return [0x02, body.length, ...body];
}

export function nordicToDer(sig: Uint8Array): Uint8Array {
  const be = reverseHalves(sig);
  const seq = [...derInteger(be.subarray(0, 32)), ...derInteger(be.subarray(32))];
  return Uint8Array.of(0x30, seq.length, ...seq);
}

export function derToNordic(der: Uint8Array): Uint8Array {
  if (der[0] !== 0x30) throw new Error('not a DER SEQUENCE');
  const out = new Uint8Array(64);
  let pos = 2;
  for (let half = 0; half < 2; half++) {
    if (der[pos] !== 0x02) throw new Error('not a DER INTEGER');
    const len = der[pos + 1] as number;
    const v = der.subarray(pos + 2, pos + 2 + len);
    const trimmed = v.length > 32 ? v.subarray(v.length - 32) : v;
    out.set(trimmed, half * 32 + 32 - trimmed.length);
    pos += 2 + len;
  }
  return reverseHalves(out);
}
