/**
 * The Supported_Commands bitmap of the virtual controller (Core Vol 4, Part E, 6.27): octet and
 * bit of every command it implements. A host that checks the bitmap before using a command then
 * sees exactly what the controller answers.
 */
export const SUPPORTED_COMMAND_BITS = {
  disconnect: [0, 5],
  setEventMask: [5, 6],
  reset: [5, 7],
  readLocalName: [7, 1],
  hostBufferSize: [10, 6],
  readLocalVersionInformation: [14, 3],
  readLocalSupportedFeatures: [14, 5],
  readBufferSize: [14, 7],
  readBdAddr: [15, 1],
  leSetEventMask: [25, 0],
  leReadBufferSize: [25, 1],
  leReadLocalSupportedFeatures: [25, 2],
  leSetRandomAddress: [25, 4],
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
} as const satisfies Record<string, readonly [number, number]>;

export function supportedCommandsBitmap(): Uint8Array {
  const out = new Uint8Array(64);
  for (const [octet, bit] of Object.values(SUPPORTED_COMMAND_BITS)) out[octet] = (out[octet] as number) | (1 << bit);
  return out;
}
