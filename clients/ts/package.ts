/**
 * Making and reading DFU packages and signing keys, in the program's own process: no server
 * needed. These are the server's own package codec (server/dfu/package/, pure: bytes in, bytes
 * out), re-exported so that what a program generates is checked by the very code the server
 * reads it with. `bledfu pkg` and `bledfu keys` are thin layers over these functions.
 * Failures are BledfuErrors (code INVALID_ARGUMENT or PACKAGE_*, with a remedy); decodeError
 * turns them into the DecodedError shape of a server's errors.
 */
export { readPackage } from '../../server/dfu/package/package.js';
export { describePackage } from '../../server/dfu/package/display.js';
// Legacy DFU packages (nrfutil ≤ 0.5, adafruit-nrfutil): readAnyPackage reads either protocol's.
export { readAnyPackage } from '../../server/dfu/package/anyPackage.js';
export { describeLegacyPackage } from '../../server/dfu/package/legacyDisplay.js';
export { DFU_PROTOCOL_TEXT } from '../../server/dfu/package/protocolNames.js';
export { isLegacyPackage, packageProtocol, type AnyDfuPackage, type DfuProtocol as PackageProtocol, type LegacyDfuPackage } from '../../server/dfu/package/images.js';
export {
  BOOT_VALIDATION_NAMES,
  generatePackage,
  type BootValidationName,
  type FirmwareSource,
  type GeneratedPackage,
  type GeneratePackageOptions,
} from '../../server/dfu/package/generate.js';
export { encodeIntelHex, parseIntelHex, type HexSegment } from '../../server/dfu/package/hex.js';
export { generateSigningKey, loadSigningKey, publicKeyCode, publicKeyPem, signInitCommand } from '../../server/dfu/package/signingKey.js';
export { loadPublicKey, verifyInitPacketSignature, type PublicKeyInput } from '../../server/dfu/package/signature.js';
export { decodeInitPacket, type InitPacket } from '../../server/dfu/package/initPacket.js';

import type { readPackage as read } from '../../server/dfu/package/package.js';
import type { GeneratedPackage as Generated } from '../../server/dfu/package/generate.js';
// Named here from the codec's own signatures: the client reaches the codec, not the server's DFU types.
/** A package as readPackage returns it: its images in sending order, with what each init packet says. */
export type DfuPackage = Awaited<ReturnType<typeof read>>;
export type PackageImage = DfuPackage['images'][number];
export type ImageSummary = PackageImage['summary'];
export type ImageKind = Generated['images'][number]['kind'];
