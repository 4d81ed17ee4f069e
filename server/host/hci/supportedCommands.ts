/**
 * The Supported_Commands bitmap of HCI Read Local Supported Commands (Core Vol 4, Part E, 6.27):
 * the octet and bit that stand for each command in the table of commands.ts. Both sides read it
 * from here: the host to decide whether it may send an optional command, the simulator to
 * advertise what it answers.
 */
import type { HciCommandName } from './commands.js';

export const SUPPORTED_COMMANDS_OCTETS = 64;

export const SUPPORTED_COMMAND_BITS = {
  disconnect: [0, 5],
  setEventMask: [5, 6],
  reset: [5, 7],
  readLocalVersionInformation: [14, 3],
  readLocalSupportedFeatures: [14, 5],
  readBufferSize: [14, 7],
  readBdAddr: [15, 1],
  leSetEventMask: [25, 0],
  leReadBufferSize: [25, 1],
  leReadLocalSupportedFeatures: [25, 2],
  leSetRandomAddress: [25, 4],
  leSetAdvertisingParameters: [25, 5],
  leSetAdvertisingData: [25, 7],
  leSetScanResponseData: [26, 0],
  leSetAdvertisingEnable: [26, 1],
  leSetScanParameters: [26, 2],
  leSetScanEnable: [26, 3],
  leCreateConnection: [26, 4],
  leCreateConnectionCancel: [26, 5],
  leConnectionUpdate: [27, 2],
  leRemoteConnectionParameterRequestReply: [33, 4],
  leRemoteConnectionParameterRequestNegativeReply: [33, 5],
  leSetDataLength: [33, 6],
  leReadSuggestedDefaultDataLength: [33, 7],
  leWriteSuggestedDefaultDataLength: [34, 0],
  leSetDefaultPhy: [35, 5],
  leSetPhy: [35, 6],
} as const satisfies Partial<Record<HciCommandName, readonly [number, number]>>;

/**
 * The commands that have a bit. Read Local Supported Commands itself has none: every controller
 * since Bluetooth 1.2 must answer it.
 */
export type AdvertisedCommandName = keyof typeof SUPPORTED_COMMAND_BITS;

/** True when the bitmap has the command's bit set. */
export function isCommandSupported(bitmap: Uint8Array, name: AdvertisedCommandName): boolean {
  const [octet, bit] = SUPPORTED_COMMAND_BITS[name];
  return (((bitmap[octet] ?? 0) >> bit) & 1) === 1;
}

/** A bitmap with the bits of `names` set (and nothing else). */
export function supportedCommandsBitmapOf(names: Iterable<AdvertisedCommandName>): Uint8Array {
  const out = new Uint8Array(SUPPORTED_COMMANDS_OCTETS);
  for (const name of names) {
    const [octet, bit] = SUPPORTED_COMMAND_BITS[name];
    out[octet] = (out[octet] as number) | (1 << bit);
  }
  return out;
}
