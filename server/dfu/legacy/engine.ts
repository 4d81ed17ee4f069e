/**
 * The legacy DFU procedure (nRF5 SDK ≤ 11 bootloaders, the Adafruit nRF52 bootloader).
 */
import { BledfuError } from '../../common/errors.js';
import type { DfuRunner, LegacyDfuPackage } from '../types.js';

export const runLegacyDfu: DfuRunner<LegacyDfuPackage> = async (_adapter, pkg) => {
  throw new BledfuError('INTERNAL', `legacy DFU engine not written yet (${pkg.images.length} images)`, { layer: 'dfu' });
};
