/**
 * Legacy DFU control point codec (service 0x1530 of nRF5 SDK ≤ 11 and the Adafruit nRF52
 * bootloader), both directions and pure: the host encodes requests and decodes notifications, the
 * simulated legacy bootloader decodes requests and encodes notifications. All integers are
 * little-endian.
 *
 *   host → control point (0x1531, write with response, notifications on)
 *     01 tt            Start DFU, image type tt (bits: 01 SoftDevice, 02 bootloader, 04 application)
 *     01               Start DFU without a type (SDK ≤ 6, application only)
 *     02 00 / 02 01    Initialize DFU parameters: init packet follows on 0x1532 / it is complete
 *     02               Initialize DFU parameters (SDK ≤ 6: one write to 0x1532 follows)
 *     03               Receive firmware image (data follows on 0x1532)
 *     04               Validate firmware
 *     05               Activate image and reset
 *     06               Reset (abandon the update)
 *     07               Report received image size
 *     08 nn nn         Packet receipt notification request: every n packets (u16), 0 = off
 *   host → packet (0x1532, write without response)
 *     after Start DFU: image sizes, SoftDevice u32 ‖ bootloader u32 ‖ application u32 (SDK 7+),
 *     or the application size u32 alone (SDK ≤ 6, after the type-less Start DFU)
 *   target → host (notifications of 0x1531)
 *     10 rr ss         response to request rr with status ss
 *     10 07 01 nnnnnnnn  response to Report received image size: bytes received u32
 *     11 nnnnnnnn      packet receipt notification: firmware bytes received so far u32
 *
 * Sources (facts only, no code taken):
 * - Nordic nRF5 SDK (SDK 11 generation) `components/ble/ble_services/ble_dfu/ble_dfu.h` and
 *   `ble_dfu.c` (ble_dfu_resp_val_t SUCCESS 1 … OPER_FAILED 6, op codes 1–8; on_ctrl_pt_write:
 *   Start DFU and Init need 2 bytes else OPER_FAILED, the PRN request 3 bytes else NOT_SUPPORTED,
 *   an unknown op code NOT_SUPPORTED; ble_dfu_response_send: 10 rr ss;
 *   ble_dfu_bytes_rcvd_report: 10 07 01 + u32; ble_dfu_pkts_rcpt_notify: 11 + u32).
 * - Android-DFU-Library `LegacyDfuImpl.java` (OP_CODE_START_DFU {01, type}, _V1 {01},
 *   INIT_DFU_PARAMS {02} / START {02 00} / COMPLETE {02 01}, PRN request {08, lo, hi}; the image
 *   size packet as three UINT32 "even though some of them may be 0s"; on NOT_SUPPORTED for
 *   SD/BL + application it sends SD/BL first and the application in a second connection; on
 *   INVALID_STATE after Start DFU it resets and starts over; SDK ≤ 6 bootloaders get PRN ≤ 10) and
 *   `LegacyButtonlessDfuImpl.java` (the application's jump: {01, 04} on its control point); the
 *   image type bits 01 SoftDevice, 02 bootloader, 04 application are LegacyDfuImpl's upload mode
 *   (DFU_UPDATE_SD/BL/APP in the Adafruit bootloader's dfu_init.c).
 */
import { ByteReader, ByteWriter, toHex } from '../../common/bytes.js';
import type { ImageKind } from '../package/images.js';
import { legacyProtocolError, legacyRemoteError } from './errors.js';
import { LEGACY_OPCODE, LEGACY_STATUS, legacyOpcodeName } from './opcodes.js';

export { LEGACY_OPCODE, LEGACY_STATUS, legacyOpcodeName, legacyStatusInfo } from './opcodes.js';

/** Image type bits of Start DFU (dfu_types.h DFU_UPDATE_SD/BL/APP). */
export const LEGACY_IMAGE_TYPE = { SOFTDEVICE: 0x01, BOOTLOADER: 0x02, APPLICATION: 0x04 } as const satisfies Record<string, number>;

/** The Start DFU image type of one package image (a combined SoftDevice + bootloader image is both bits). */
export function legacyImageType(kind: ImageKind): number {
  switch (kind) {
    case 'softdevice_bootloader':
      return LEGACY_IMAGE_TYPE.SOFTDEVICE | LEGACY_IMAGE_TYPE.BOOTLOADER;
    case 'softdevice':
      return LEGACY_IMAGE_TYPE.SOFTDEVICE;
    case 'bootloader':
      return LEGACY_IMAGE_TYPE.BOOTLOADER;
    case 'application':
      return LEGACY_IMAGE_TYPE.APPLICATION;
  }
}

/** Init DFU parameters phases (SDK 7+): the init packet starts / is complete. */
export const LEGACY_INIT_PHASE = { START: 0x00, COMPLETE: 0x01 } as const satisfies Record<string, number>;

// ---------------------------------------------------------------------------------------------
// Requests (host → control point)

export type LegacyRequest =
  /** imageType undefined: the one-byte Start DFU of SDK ≤ 6 (application only, 4-byte size packet). */
  | { readonly op: 'startDfu'; readonly imageType: number | undefined }
  /** phase undefined: the one-byte Init of SDK ≤ 6 (the init packet is one write, then the response). */
  | { readonly op: 'initDfuParams'; readonly phase: 'start' | 'complete' | undefined }
  | { readonly op: 'receiveFirmwareImage' }
  | { readonly op: 'validate' }
  | { readonly op: 'activateAndReset' }
  | { readonly op: 'reset' }
  | { readonly op: 'reportReceivedImageSize' }
  /** packets 0 turns notifications off. */
  | { readonly op: 'packetReceiptNotificationRequest'; readonly packets: number }
  /** Any other op code, or a known one with a payload the bootloader cannot read (it answers with a failure status). */
  | { readonly op: 'other'; readonly opcode: number; readonly payload: Uint8Array };

export function encodeLegacyRequest(r: LegacyRequest): Uint8Array {
  switch (r.op) {
    case 'startDfu':
      return r.imageType === undefined ? Uint8Array.of(LEGACY_OPCODE.START_DFU) : new ByteWriter().u8(LEGACY_OPCODE.START_DFU).u8(r.imageType).finish();
    case 'initDfuParams':
      return r.phase === undefined
        ? Uint8Array.of(LEGACY_OPCODE.INIT_DFU_PARAMS)
        : Uint8Array.of(LEGACY_OPCODE.INIT_DFU_PARAMS, r.phase === 'start' ? LEGACY_INIT_PHASE.START : LEGACY_INIT_PHASE.COMPLETE);
    case 'receiveFirmwareImage':
      return Uint8Array.of(LEGACY_OPCODE.RECEIVE_FIRMWARE_IMAGE);
    case 'validate':
      return Uint8Array.of(LEGACY_OPCODE.VALIDATE);
    case 'activateAndReset':
      return Uint8Array.of(LEGACY_OPCODE.ACTIVATE_AND_RESET);
    case 'reset':
      return Uint8Array.of(LEGACY_OPCODE.RESET);
    case 'reportReceivedImageSize':
      return Uint8Array.of(LEGACY_OPCODE.REPORT_RECEIVED_IMAGE_SIZE);
    case 'packetReceiptNotificationRequest':
      return new ByteWriter().u8(LEGACY_OPCODE.PACKET_RECEIPT_NOTIFICATION_REQUEST).u16le(r.packets).finish();
    case 'other':
      return new ByteWriter().u8(r.opcode).bytes(r.payload).finish();
  }
}

/**
 * Decodes a control point write as the bootloader reads it (ble_dfu.c on_ctrl_pt_write): only
 * the bytes it looks at count, extra bytes are ignored; a PRN request shorter than 3 bytes is
 * `other` (the bootloader answers NOT_SUPPORTED). Throws DFU_PROTOCOL_ERROR for an empty write.
 */
export function decodeLegacyRequest(bytes: Uint8Array): LegacyRequest {
  if (bytes.length === 0) throw legacyProtocolError('empty write to the legacy DFU control point');
  const opcode = bytes[0] as number;
  const second = bytes[1];
  switch (opcode) {
    case LEGACY_OPCODE.START_DFU:
      return { op: 'startDfu', imageType: second };
    case LEGACY_OPCODE.INIT_DFU_PARAMS:
      if (second === undefined) return { op: 'initDfuParams', phase: undefined };
      if (second === LEGACY_INIT_PHASE.START) return { op: 'initDfuParams', phase: 'start' };
      if (second === LEGACY_INIT_PHASE.COMPLETE) return { op: 'initDfuParams', phase: 'complete' };
      return { op: 'other', opcode, payload: bytes.slice(1) };
    case LEGACY_OPCODE.RECEIVE_FIRMWARE_IMAGE:
      return { op: 'receiveFirmwareImage' };
    case LEGACY_OPCODE.VALIDATE:
      return { op: 'validate' };
    case LEGACY_OPCODE.ACTIVATE_AND_RESET:
      return { op: 'activateAndReset' };
    case LEGACY_OPCODE.RESET:
      return { op: 'reset' };
    case LEGACY_OPCODE.REPORT_RECEIVED_IMAGE_SIZE:
      return { op: 'reportReceivedImageSize' };
    case LEGACY_OPCODE.PACKET_RECEIPT_NOTIFICATION_REQUEST:
      if (bytes.length < 3) return { op: 'other', opcode, payload: bytes.slice(1) };
      return { op: 'packetReceiptNotificationRequest', packets: new ByteReader(bytes.subarray(1, 3), 'dfu', 'legacy PRN request').u16le() };
    default:
      return { op: 'other', opcode, payload: bytes.slice(1) };
  }
}

/** The op code a request goes out with (for naming it in errors and responses). */
export function legacyRequestOpcode(r: LegacyRequest): number {
  return encodeLegacyRequest(r)[0] as number;
}

// ---------------------------------------------------------------------------------------------
// The image size packet (host → packet characteristic, right after Start DFU)

export interface LegacyImageSizes {
  readonly softdevice: number;
  readonly bootloader: number;
  readonly application: number;
}

/** SDK 7+ size packet: SoftDevice ‖ bootloader ‖ application, three u32 (12 bytes). */
export function encodeLegacyImageSizes(s: LegacyImageSizes): Uint8Array {
  return new ByteWriter().u32le(s.softdevice).u32le(s.bootloader).u32le(s.application).finish();
}

/** SDK ≤ 6 size packet after the type-less Start DFU: the application size alone (4 bytes). */
export function encodeLegacyApplicationSize(size: number): Uint8Array {
  return new ByteWriter().u32le(size).finish();
}

/**
 * Reads a size packet as a bootloader would: 12 bytes = the three sizes, 4 bytes = the
 * application alone (SDK ≤ 6). Anything else is DFU_PROTOCOL_ERROR.
 */
export function decodeLegacyImageSizes(bytes: Uint8Array): LegacyImageSizes {
  const r = new ByteReader(bytes, 'dfu', 'legacy image size packet');
  if (bytes.length === 12) return { softdevice: r.u32le(), bootloader: r.u32le(), application: r.u32le() };
  if (bytes.length === 4) return { softdevice: 0, bootloader: 0, application: r.u32le() };
  throw legacyProtocolError(`legacy image size packet of ${bytes.length} bytes (expected 12, or 4 for an SDK ≤ 6 bootloader): ${toHex(bytes, ' ')}`);
}

// ---------------------------------------------------------------------------------------------
// Notifications (control point → host)

export type LegacyNotification =
  /** bytesReceived: only in the response to Report received image size (10 07 01 + u32). */
  | { readonly kind: 'response'; readonly request: number; readonly status: number; readonly bytesReceived: number | undefined }
  | { readonly kind: 'packetReceipt'; readonly bytesReceived: number };

export function encodeLegacyNotification(n: LegacyNotification): Uint8Array {
  if (n.kind === 'packetReceipt') return new ByteWriter().u8(LEGACY_OPCODE.PACKET_RECEIPT_NOTIFICATION).u32le(n.bytesReceived).finish();
  const w = new ByteWriter().u8(LEGACY_OPCODE.RESPONSE).u8(n.request).u8(n.status);
  if (n.bytesReceived !== undefined) w.u32le(n.bytesReceived);
  return w.finish();
}

/**
 * Decodes a control point notification. Throws DFU_PROTOCOL_ERROR for anything the legacy
 * protocol does not send (unknown op code, wrong length), quoting the bytes.
 */
export function decodeLegacyNotification(bytes: Uint8Array): LegacyNotification {
  const bad = (why: string): never => {
    throw legacyProtocolError(`legacy DFU notification ${toHex(bytes, ' ') || '(empty)'}: ${why}`, { notification: toHex(bytes) });
  };
  const r = new ByteReader(bytes, 'dfu', 'legacy DFU notification');
  if (bytes.length === 0) return bad('empty');
  const op = r.u8();
  if (op === LEGACY_OPCODE.PACKET_RECEIPT_NOTIFICATION) {
    if (bytes.length !== 5) return bad('a packet receipt notification has 5 bytes');
    return { kind: 'packetReceipt', bytesReceived: r.u32le() };
  }
  if (op !== LEGACY_OPCODE.RESPONSE) return bad(`op code 0x${op.toString(16).padStart(2, '0')} is neither a response (0x10) nor a packet receipt (0x11)`);
  if (bytes.length < 3) return bad('a response has at least 3 bytes');
  const request = r.u8();
  const status = r.u8();
  if (request === LEGACY_OPCODE.REPORT_RECEIVED_IMAGE_SIZE && status === LEGACY_STATUS.SUCCESS) {
    if (bytes.length !== 7) return bad('the response to Report received image size carries a 4-byte size');
    return { kind: 'response', request, status, bytesReceived: r.u32le() };
  }
  if (bytes.length !== 3) return bad('a response has 3 bytes');
  return { kind: 'response', request, status, bytesReceived: undefined };
}

/**
 * The success response to `request`, or the error an engine throws: DFU_REMOTE_ERROR (LEGACY_*
 * result name, the status's remedy) for a failure status, DFU_PROTOCOL_ERROR for a packet receipt
 * or a response to another request where this one's was due. `what` names the step for the message.
 */
export function expectLegacySuccess(n: LegacyNotification, request: number, what: string): Extract<LegacyNotification, { kind: 'response' }> {
  if (n.kind !== 'response') {
    throw legacyProtocolError(`waiting for the response to ${legacyOpcodeName(request)} (${what}), got a packet receipt notification`, { request: legacyOpcodeName(request) });
  }
  if (n.request !== request) {
    throw legacyProtocolError(`waiting for the response to ${legacyOpcodeName(request)} (${what}), got one to ${legacyOpcodeName(n.request)}`, {
      request: legacyOpcodeName(request),
    });
  }
  if (n.status !== LEGACY_STATUS.SUCCESS) throw legacyRemoteError(request, n.status, what);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Packet characteristic writes

/**
 * The SDK 11 bootloader (bootloader_dfu/dfu_transport_ble.c, also in the Adafruit bootloader)
 * writes firmware to flash in 32-bit words: a firmware packet whose length is not a multiple of 4
 * is answered NOT_SUPPORTED (app_data_process), and an init packet write of odd length is padded
 * with zeros to the next word (init_data_process), which corrupts an init packet sent in several
 * writes unless every write but the last is a multiple of 4.
 */
export const LEGACY_WRITE_ALIGNMENT = 4;

/**
 * The largest packet characteristic write for an ATT MTU: the Write Command's value (MTU - 3)
 * rounded down to a multiple of 4 (20 bytes at the default MTU of 23, as every legacy DFU client
 * sends).
 */
export function legacyPacketSize(mtu: number): number {
  const size = Math.floor((mtu - 3) / LEGACY_WRITE_ALIGNMENT) * LEGACY_WRITE_ALIGNMENT;
  if (!Number.isInteger(mtu) || size < LEGACY_WRITE_ALIGNMENT) throw new RangeError(`ATT MTU ${mtu} leaves no room for a ${LEGACY_WRITE_ALIGNMENT}-byte packet`);
  return size;
}

/** Prior bootloaders (SDK ≤ 6) lose data above this PRN interval (LegacyDfuImpl.java: "PRN = 10 may be the highest supported value"). */
export const LEGACY_MAX_PRN_SDK6 = 10;
