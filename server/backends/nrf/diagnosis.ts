/**
 * "Failed to open. Error code: 13" as a diagnosis. pc-ble-driver reports every link that never
 * comes up as NRF_ERROR_TIMEOUT; what the port sent back while we tried (and whether it answers
 * an HCI Reset afterwards) tells which of the known causes applies, so the error can say what to
 * do. Pure: the caller records the bytes (attach.ts). Opening failures (port missing, busy, no
 * permission) are diagnosed earlier, by the typed serial errors.
 */
import { BledfuError, isBledfuError } from '../../common/errors.js';
import type { SerialPortInfo } from '../../transport/ports.js';
import { describePortReply, type PortReply } from '../probe.js';
import { flashAdvice } from './firmware.js';

/** What users search for. */
export const NRFUTIL_ERROR_13 = 'nrfutil/pc-ble-driver report this as "Failed to open. Error code: 13"';

export interface LinkDiagnosisInput {
  /** "/dev/ttyACM0" or "the simulated dongle". */
  readonly where: string;
  /** What the port sent while the H5 link tried to come up. */
  readonly reply: PortReply;
  /** What it answered to an HCI Reset sent afterwards (undefined: not asked). */
  readonly hciProbe?: PortReply;
  readonly firstBytes: string;
  /** The link's own failure (SERIAL_NO_RESPONSE naming the stuck state). */
  readonly cause: unknown;
  /** The port as the OS lists it (USB ids say which board and firmware mode). */
  readonly port?: SerialPortInfo;
  /** How to name this port in another spec ("hci:/dev/ttyACM0"). */
  readonly specPath: string;
}

const BOOTLOADER = { vendorId: '1915', productId: '521f' };

/** The error for an H5 link that never came up. */
export function diagnoseNrfLink(input: LinkDiagnosisInput): BledfuError {
  const { where, reply, hciProbe, port, specPath, cause } = input;
  const facts = { context: { port: where, reply: reply.kind, firstBytes: input.firstBytes, ...(hciProbe === undefined ? {} : { hciProbe: hciProbe.kind }) } };
  const detail = isBledfuError(cause) ? ` (${cause.message})` : '';
  const device = port?.known === undefined ? '' : `; the port is a ${port.known.name}`;
  const wrong = (message: string, remedy: string): BledfuError =>
    new BledfuError('SERIAL_WRONG_PROTOCOL', `${where} does not speak Nordic's connectivity protocol: ${message}${device}`, { layer: 'nrf', remedy, facts, cause });
  const noResponse = (message: string, remedy: string): BledfuError =>
    new BledfuError('SERIAL_NO_RESPONSE', `${message}${device}; ${NRFUTIL_ERROR_13}`, { layer: 'nrf', remedy, facts, cause });

  if (reply.kind === 'hci' || hciProbe?.kind === 'hci') {
    return wrong(
      'an HCI controller answers there (Bluetooth HCI over UART, e.g. Zephyr hci_uart), not Nordic connectivity firmware',
      `use hci:${specPath} (or auto:${specPath}, which picks the backend itself); to use nrf: instead, ${flashAdvice(6)}`,
    );
  }
  switch (reply.kind) {
    case 'text':
      return wrong(
        `${describePortReply(reply)}, which is a shell, console log or AT-command firmware`,
        `pick the board's other serial port if it has several; otherwise ${flashAdvice(6)}`,
      );
    case 'unknown':
      return wrong(
        `${describePortReply(reply)}; usually the baud rate is wrong (connectivity 4.1.x runs at 1000000) or the line is noisy`,
        'write baud=1000000 in the adapter spec (the default); check the cable and, on a DK, disable the J-Link Mass Storage Device (MSDDisable); then unplug and replug the board',
      );
    case 'nordic-connectivity':
      return noResponse(
        `the nRF device on ${where} sends Nordic H5 link packets (${reply.packet}) but never completes the link setup with us${detail}: it is stuck, or does not hear us`,
        'press its RESET button or unplug and replug it, then retry; on a dongle make sure nothing else drops DTR; if it persists, flash the connectivity firmware again',
      );
    case 'silent':
      if (port?.vendorId === BOOTLOADER.vendorId && port.productId === BOOTLOADER.productId) {
        return noResponse(
          `the nRF52840 Dongle on ${where} is in its USB DFU bootloader (red LED pulsing) and runs no connectivity firmware`,
          `${flashAdvice(6)}, or press its RESET button if the connectivity firmware is already on it`,
        );
      }
      return noResponse(
        `no response from the nRF device on ${where}${detail}: it does not run Nordic connectivity firmware 4.1.x at 1 Mbaud (a dongle in its bootloader, a DK with another application), or it is stuck after a crash`,
        `press the board's RESET button or unplug and replug it, then retry; if it still does not answer, ${flashAdvice(6)}`,
      );
    default: {
      const never: never = reply;
      throw new Error(`unreachable ${String(never)}`);
    }
  }
}
