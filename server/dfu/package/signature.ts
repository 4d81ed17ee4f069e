/**
 * ECDSA P-256 / SHA-256 verification of init packets (spec §5, §6.2). Nordic stores r and s
 * each as 32 little-endian bytes; node:crypto wants the IEEE P1363 form (big-endian r‖s).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { BledfuError } from '../../common/errors.js';
import { decodeInitPacket, SIGNATURE_TYPE, signedMessage, type InitPacket } from './initPacket.js';

/** Nordic's 64-byte little-endian r‖s (or X‖Y) → big-endian halves, as P1363 / JWK expect. */
export function reverseHalves(le64: Uint8Array): Uint8Array {
  if (le64.length !== 64) {
    throw new BledfuError('INVALID_ARGUMENT', `expected 64 bytes (two 32-byte halves), got ${le64.length}`, { layer: 'package' });
  }
  const out = new Uint8Array(64);
  for (let i = 0; i < 32; i++) {
    out[i] = le64[31 - i] as number;
    out[32 + i] = le64[63 - i] as number;
  }
  return out;
}

export type PublicKeyInput = string | Uint8Array | KeyObject;

/**
 * A P-256 public key from PEM text, or from the 64-byte `pk[]` array as compiled into the
 * bootloader (X‖Y, each little-endian: nrfutil keys display --format code).
 */
export function loadPublicKey(key: PublicKeyInput): KeyObject {
  if (typeof key === 'string') {
    try {
      return createPublicKey(key);
    } catch (cause) {
      throw new BledfuError('INVALID_ARGUMENT', 'public key is not a valid PEM', { layer: 'package', cause });
    }
  }
  if (key instanceof Uint8Array) {
    const be = reverseHalves(key);
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(be.subarray(0, 32)).toString('base64url'),
        y: Buffer.from(be.subarray(32)).toString('base64url'),
      },
      format: 'jwk',
    });
  }
  return key;
}

/**
 * True when the init packet's signature verifies with `key` over the serialized InitCommand.
 * Unsigned packets, non-ECDSA signature types and malformed signatures give false.
 */
export function verifyInitPacketSignature(dat: Uint8Array, key: PublicKeyInput, decoded?: InitPacket): boolean {
  const packet = decoded ?? decodeInitPacket(dat);
  if (packet.kind !== 'signed' || packet.signature === undefined) return false;
  if (packet.signatureType !== SIGNATURE_TYPE.ECDSA_P256_SHA256 || packet.signature.length !== 64) return false;
  const keyObject = loadPublicKey(key);
  return verify('sha256', signedMessage(dat, packet), { key: keyObject, dsaEncoding: 'ieee-p1363' }, reverseHalves(packet.signature));
}
