/**
 * The one DfuRunner the job layer calls: the engine is chosen from the package. A legacy package
 * (nrfutil ≤ 0.5, adafruit-nrfutil: legacy manifest and init packet) goes to the legacy DFU
 * engine, any other to Secure DFU. Each engine then checks that the device speaks its protocol
 * before it writes anything, and refuses one that speaks the other with GATT_SERVICE_MISSING
 * and a remedy naming the package the device needs.
 */
import { runLegacyDfu } from './legacy/engine.js';
import { runSecureDfu } from './secure/engine.js';
import { isLegacyPackage, type DfuRunner } from './types.js';

export const runDfu: DfuRunner = (adapter, pkg, target, options, context) =>
  isLegacyPackage(pkg) ? runLegacyDfu(adapter, pkg, target, options, context) : runSecureDfu(adapter, pkg, target, options, context);
