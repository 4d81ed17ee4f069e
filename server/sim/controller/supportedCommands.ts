/**
 * The Supported_Commands bitmap of the virtual controller (Core Vol 4, Part E, 6.27): the bit of
 * every command it implements. A host that checks the bitmap before using a command then sees
 * exactly what the controller answers. Bit positions come from the host's table, so both sides
 * agree by construction.
 */
import { HCI_COMMANDS } from '../../host/hci/commands.js';
import { supportedCommandsBitmapOf, type AdvertisedCommandName } from '../../host/hci/supportedCommands.js';

/** Commands of the host's table the controller answers (it refuses legacy advertising). */
const IMPLEMENTED: readonly AdvertisedCommandName[] = [
  'disconnect',
  'setEventMask',
  'reset',
  'readLocalVersionInformation',
  'readLocalSupportedFeatures',
  'readBufferSize',
  'readBdAddr',
  'leSetEventMask',
  'leReadBufferSize',
  'leReadLocalSupportedFeatures',
  'leSetRandomAddress',
  'leSetScanParameters',
  'leSetScanEnable',
  'leCreateConnection',
  'leCreateConnectionCancel',
  'leConnectionUpdate',
  'leRemoteConnectionParameterRequestReply',
  'leRemoteConnectionParameterRequestNegativeReply',
  'leSetDataLength',
  'leReadSuggestedDefaultDataLength',
  'leWriteSuggestedDefaultDataLength',
  'leSetDefaultPhy',
  'leSetPhy',
];

/** Answered too, outside the host's table: Read Local Name, Host Buffer Size. */
const EXTRA_BITS: readonly (readonly [number, number])[] = [
  [7, 1],
  [10, 6],
];

/**
 * The bitmap, without the commands whose opcodes are in `withheld` (a controller that answers a
 * command yet does not advertise it: the host must not send it).
 */
export function supportedCommandsBitmap(withheld: readonly number[] = []): Uint8Array {
  const names = IMPLEMENTED.filter((name) => !withheld.includes(HCI_COMMANDS[name].opcode));
  const out = supportedCommandsBitmapOf(names);
  for (const [octet, bit] of EXTRA_BITS) out[octet] = (out[octet] as number) | (1 << bit);
  return out;
}
