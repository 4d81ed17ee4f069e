/**
 * DFU-specific constructors for BledfuError, so every failure of a package or of the Secure DFU
 * procedure carries the same code/layer/remedy shape wherever it is raised.
 */
import { BledfuError, type ErrorFacts } from '../common/errors.js';

export function packageInvalid(message: string, remedy?: string, cause?: unknown): BledfuError {
  return new BledfuError('PACKAGE_INVALID', message, {
    layer: 'package',
    remedy: remedy ?? 'regenerate the package with nrfutil pkg generate and check that the file is complete',
    ...(cause === undefined ? {} : { cause }),
  });
}

export function packageLegacy(message: string): BledfuError {
  return new BledfuError('PACKAGE_LEGACY', message, {
    layer: 'package',
    remedy:
      'a legacy DFU package (nrfutil ≤ 0.5, adafruit-nrfutil) is for a legacy bootloader (nRF5 SDK ≤ 11, Adafruit nRF52): ' +
      'the server sends it with its legacy DFU engine (bledfu dfu); for a Secure DFU bootloader regenerate it with nrfutil pkg generate (nrfutil 1.5 or later)',
  });
}

export function dfuProtocolError(message: string, context?: Record<string, string>): BledfuError {
  return new BledfuError('DFU_PROTOCOL_ERROR', message, {
    layer: 'dfu',
    remedy: 'the device answered something the Secure DFU protocol does not allow; retry, and report it if it persists',
    ...(context === undefined ? {} : { facts: { context } }),
  });
}

export function dfuCrcMismatch(message: string, context?: Record<string, string>): BledfuError {
  return new BledfuError('DFU_CRC_MISMATCH', message, {
    layer: 'dfu',
    remedy: 'data was lost on the way to the device; retry with a lower PRN interval (e.g. --prn 1) or a smaller MTU',
    ...(context === undefined ? {} : { facts: { context } }),
  });
}

export function dfuRemoteError(message: string, facts: ErrorFacts, remedy: string | undefined): BledfuError {
  return new BledfuError('DFU_REMOTE_ERROR', message, {
    layer: 'dfu',
    facts,
    ...(remedy === undefined ? {} : { remedy }),
  });
}

export function buttonlessFailed(message: string, remedy: string, facts?: ErrorFacts): BledfuError {
  return new BledfuError('BUTTONLESS_FAILED', message, {
    layer: 'dfu',
    remedy,
    ...(facts === undefined ? {} : { facts }),
  });
}

export function serviceMissing(message: string, remedy: string): BledfuError {
  return new BledfuError('GATT_SERVICE_MISSING', message, { layer: 'dfu', remedy });
}
