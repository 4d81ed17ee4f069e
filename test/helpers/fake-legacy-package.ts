/**
 * A legacy DFU package as the package reader returns one (LegacyDfuPackage), without a zip: for
 * job-layer tests that need a job of the legacy protocol but no device to send it to.
 */
import type { LegacyDfuPackage } from '../../server/dfu/types.js';

/** One SDK 11 style application image (init packet layout 0.5, device type 0xFFFF = any). */
export function fakeLegacyPackage(size = 1000): LegacyDfuPackage {
  return {
    protocol: 'legacy',
    dfuVersion: 0.5,
    images: [
      {
        summary: {
          kind: 'application',
          size,
          sizes: { softdevice: 0, bootloader: 0, application: size },
          initLayout: '0.5',
          deviceType: 0xffff,
          deviceRevision: 0xffff,
          applicationVersion: 0xffffffff,
          softdeviceReq: [0xfffe],
          crc16: 0,
          sha256: '00'.repeat(32),
          signed: false,
        },
        bin: new Uint8Array(size),
        dat: new Uint8Array(14),
      },
    ],
    sha256: 'cd'.repeat(32),
    size: 4096,
  };
}
