/**
 * BledfuErrors of the legacy DFU protocol. The codes are the Secure DFU ones (a remote failure
 * is DFU_REMOTE_ERROR, a malformed answer DFU_PROTOCOL_ERROR, whatever the protocol); the facts
 * say which protocol: result names are LEGACY_* and context.protocol is "legacy".
 */
import { BledfuError } from '../../common/errors.js';
import { legacyOpcodeName, legacyStatusInfo } from './opcodes.js';

export function legacyProtocolError(message: string, context?: Record<string, string>): BledfuError {
  return new BledfuError('DFU_PROTOCOL_ERROR', message, {
    layer: 'dfu',
    remedy: 'the device answered something the legacy DFU protocol (nRF5 SDK ≤ 11) does not allow; retry, and report it if it persists',
    facts: { context: { protocol: 'legacy', ...context } },
  });
}

/**
 * DFU_REMOTE_ERROR for a response whose status is not success: names the request and the status,
 * with the status's remedy. `what` says what was being done ("the init packet of the application").
 */
export function legacyRemoteError(request: number, status: number, what: string, context?: Record<string, string>): BledfuError {
  const info = legacyStatusInfo(status);
  return new BledfuError('DFU_REMOTE_ERROR', `the legacy bootloader rejected ${what}: ${info.name} (0x${status.toString(16).padStart(2, '0')}) — ${info.message}`, {
    layer: 'dfu',
    remedy: info.remedy,
    facts: { dfuResult: status, dfuResultName: info.name, context: { protocol: 'legacy', request: legacyOpcodeName(request), ...context } },
  });
}
