/**
 * Init packet validation as the SDK 15.3–17 BLE secure bootloader does it at a command Execute
 * (spec §2.6 and §6.3), in its order: decode, signature, FwType, hash type, (unless a debug
 * bootloader sees is_debug) hw_version, sd_req, fw_version, sizes, space. The first failure wins.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { RESULT, EXT_ERROR } from '../../dfu/secure/controlPoint.js';
import { decodeInitPacket, expectedImageSize, FW_TYPE, HASH_TYPE, SIGNATURE_TYPE, type InitPacket } from '../../dfu/package/initPacket.js';
import { verifyInitPacketSignature } from '../../dfu/package/signature.js';
import { LAYOUT, type NrfChip } from './chip.js';

export interface ValidationPolicy {
  readonly hwVersion: number;
  /** A debug bootloader skips hw/sd/fw version checks for is_debug packets. */
  readonly debug: boolean;
  /** NRF_DFU_REQUIRE_SIGNED_APP_UPDATE (default 1). */
  readonly requireSignedApp: boolean;
  readonly publicKey: KeyObject;
  /**
   * NRF_DFU_APP_ACCEPT_SAME_VERSION (SDK 17; default 1): an application whose fw_version equals
   * the stored one is accepted. With 0 it is refused (FW_VERSION_FAILURE), so a unit already on
   * the version is not flashed again. Absent: accepted, as SDK 15.3–16 always do.
   */
  readonly acceptSameAppVersion?: boolean;
}

export function loadPolicyKey(pem: string): KeyObject {
  return createPublicKey(pem);
}

export type Rejection =
  | { readonly kind: 'result'; readonly result: number }
  | { readonly kind: 'extended'; readonly extended: number };

export type Validation =
  | {
      readonly ok: true;
      readonly packet: InitPacket;
      readonly imageSize: number;
      readonly bankAddress: number;
    }
  | { readonly ok: false; readonly rejection: Rejection };

const reject = (result: number): Validation => ({ ok: false, rejection: { kind: 'result', result } });
const rejectExt = (extended: number): Validation => ({ ok: false, rejection: { kind: 'extended', extended } });

function signatureRequired(type: number | undefined, policy: ValidationPolicy): boolean {
  return type !== FW_TYPE.APPLICATION || policy.requireSignedApp;
}

export function validateInitPacket(dat: Uint8Array, chip: NrfChip, policy: ValidationPolicy): Validation {
  let packet: InitPacket;
  try {
    packet = decodeInitPacket(dat);
  } catch {
    return reject(RESULT.INVALID_OBJECT);
  }
  const init = packet.init;

  if (packet.kind === 'unsigned') {
    if (signatureRequired(init.type, policy)) return rejectExt(EXT_ERROR.SIGNATURE_MISSING);
  } else {
    if (packet.signatureType !== SIGNATURE_TYPE.ECDSA_P256_SHA256) return rejectExt(EXT_ERROR.WRONG_SIGNATURE_TYPE);
    // SDK 15+: a signature of the wrong length is OPERATION_FAILED, not a verification failure.
    if (packet.signature?.length !== 64) return reject(RESULT.OPERATION_FAILED);
    if (!verifyInitPacketSignature(dat, policy.publicKey, packet)) return reject(RESULT.INVALID_OBJECT);
  }

  const type = init.type;
  if (
    type !== FW_TYPE.APPLICATION &&
    type !== FW_TYPE.SOFTDEVICE &&
    type !== FW_TYPE.BOOTLOADER &&
    type !== FW_TYPE.SOFTDEVICE_BOOTLOADER
  ) {
    return rejectExt(EXT_ERROR.INIT_COMMAND_INVALID);
  }
  if (init.hash?.type !== HASH_TYPE.SHA256) return rejectExt(EXT_ERROR.WRONG_HASH_TYPE);

  const bypass = policy.debug && init.isDebug === true;
  if (!bypass) {
    if (init.hwVersion === undefined) return rejectExt(EXT_ERROR.INIT_COMMAND_INVALID);
    if (init.hwVersion !== policy.hwVersion) return rejectExt(EXT_ERROR.HW_VERSION_FAILURE);
    const fwid = chip.softDeviceFwid();
    const sdOk =
      fwid === undefined ? init.sdReq[0] === 0 : init.sdReq.some((v) => v === fwid) && init.sdReq.length > 0;
    if (!sdOk) return rejectExt(EXT_ERROR.SD_VERSION_FAILURE);
    const s = chip.settings;
    switch (type) {
      case FW_TYPE.APPLICATION:
        if (init.fwVersion === undefined) return rejectExt(EXT_ERROR.INIT_COMMAND_INVALID);
        if (init.fwVersion < s.appVersion) return rejectExt(EXT_ERROR.FW_VERSION_FAILURE);
        if (init.fwVersion === s.appVersion && policy.acceptSameAppVersion === false) return rejectExt(EXT_ERROR.FW_VERSION_FAILURE);
        break;
      case FW_TYPE.SOFTDEVICE:
        if (init.fwVersion !== undefined && init.fwVersion < s.appVersion) return rejectExt(EXT_ERROR.FW_VERSION_FAILURE);
        break;
      case FW_TYPE.BOOTLOADER:
      case FW_TYPE.SOFTDEVICE_BOOTLOADER:
        if (init.fwVersion === undefined) return rejectExt(EXT_ERROR.INIT_COMMAND_INVALID);
        if (init.fwVersion <= s.bootloaderVersion) return rejectExt(EXT_ERROR.FW_VERSION_FAILURE);
        break;
    }
  }

  const imageSize = expectedImageSize(init);
  if (imageSize === undefined) return rejectExt(EXT_ERROR.INIT_COMMAND_INVALID);
  if ((type === FW_TYPE.BOOTLOADER || type === FW_TYPE.SOFTDEVICE_BOOTLOADER) && (init.blSize ?? 0) > LAYOUT.bootloaderEnd - LAYOUT.bootloaderStart) {
    return reject(RESULT.INSUFFICIENT_RESOURCES);
  }

  const bankAddress = chooseBank(chip, type, imageSize);
  if (bankAddress === undefined) return reject(RESULT.INSUFFICIENT_RESOURCES);
  return { ok: true, packet, imageSize, bankAddress };
}

/**
 * Dual bank when the image fits above the current application (the SDK's preference), else an
 * application may go single bank over the old one; other images need dual bank.
 */
function chooseBank(chip: NrfChip, type: number, size: number): number | undefined {
  const page = chip.flash.geometry.pageSize;
  const appEnd = LAYOUT.appStart + (chip.settings.appValid && chip.settings.app !== undefined ? chip.settings.app.size : 0);
  const bank1 = Math.ceil(appEnd / page) * page;
  if (bank1 + size <= chip.appAreaEnd()) return bank1;
  if (type === FW_TYPE.APPLICATION && LAYOUT.appStart + size <= chip.appAreaEnd()) return LAYOUT.appStart;
  return undefined;
}
