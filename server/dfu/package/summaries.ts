/**
 * One summary shape for the images of a package of either protocol, for the places that report
 * a package without sending it (UploadPackage's answer, a job's snapshot and events, campaigns).
 * A Secure DFU image's summary is its own; a legacy image's is mapped field by field onto the
 * nearest Secure DFU meaning, so clients read both alike.
 */
import { isLegacyPackage, type AnyDfuPackage, type ImageSummary, type LegacyImageSummary } from './images.js';

/** 0xFFFFFFFF application version and 0xFFFF device revision mean "not set" in a legacy init packet. */
const LEGACY_UNSET_VERSION = 0xffffffff;
const LEGACY_UNSET_REVISION = 0xffff;

/**
 * A legacy image's summary as an ImageSummary: fwVersion is the init packet's application
 * version, hwVersion its device revision (the legacy field a bootloader compares with the chip,
 * as Secure DFU's hw_version), sdReq its SoftDevice list; both absent when the packet leaves them
 * unset (or is a bare SDK ≤ 6 CRC). Legacy init packets have no debug flag.
 */
export function legacyImageSummary(s: LegacyImageSummary): ImageSummary {
  return {
    kind: s.kind,
    size: s.size,
    fwVersion: s.applicationVersion === undefined || s.applicationVersion === LEGACY_UNSET_VERSION ? undefined : s.applicationVersion,
    hwVersion: s.deviceRevision === undefined || s.deviceRevision === LEGACY_UNSET_REVISION ? undefined : s.deviceRevision,
    sdReq: s.softdeviceReq,
    sha256: s.sha256,
    signed: s.signed,
    isDebug: false,
  };
}

/** The package's images, in sending order, as ImageSummary. */
export function imageSummaries(pkg: AnyDfuPackage): ImageSummary[] {
  return isLegacyPackage(pkg) ? pkg.images.map((i) => legacyImageSummary(i.summary)) : pkg.images.map((i) => i.summary);
}
