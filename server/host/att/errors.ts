/** ATT error codes (Core Vol 3, Part F, 3.4.1.1 and Supplement Part B, 1.2) and ATT-layer errors. */
import { BledfuError } from '../../common/errors.js';

export const ATT_ERROR_NAMES = {
  0x01: 'Invalid Handle',
  0x02: 'Read Not Permitted',
  0x03: 'Write Not Permitted',
  0x04: 'Invalid PDU',
  0x05: 'Insufficient Authentication',
  0x06: 'Request Not Supported',
  0x07: 'Invalid Offset',
  0x08: 'Insufficient Authorization',
  0x09: 'Prepare Queue Full',
  0x0a: 'Attribute Not Found',
  0x0b: 'Attribute Not Long',
  0x0c: 'Encryption Key Size Too Short',
  0x0d: 'Invalid Attribute Value Length',
  0x0e: 'Unlikely Error',
  0x0f: 'Insufficient Encryption',
  0x10: 'Unsupported Group Type',
  0x11: 'Insufficient Resources',
  0x12: 'Database Out Of Sync',
  0x13: 'Value Not Allowed',
  0xfc: 'Write Request Rejected',
  0xfd: 'Client Characteristic Configuration Descriptor Improperly Configured',
  0xfe: 'Procedure Already in Progress',
  0xff: 'Out of Range',
} as const satisfies Record<number, string>;

export const ATT_ERROR = {
  invalidHandle: 0x01,
  readNotPermitted: 0x02,
  writeNotPermitted: 0x03,
  invalidPdu: 0x04,
  requestNotSupported: 0x06,
  invalidOffset: 0x07,
  attributeNotFound: 0x0a,
  attributeNotLong: 0x0b,
  invalidAttributeValueLength: 0x0d,
  unlikelyError: 0x0e,
  unsupportedGroupType: 0x10,
  cccdImproperlyConfigured: 0xfd,
} as const satisfies Record<string, number>;

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0').toUpperCase()}`;

export function attErrorName(code: number): string {
  const name = (ATT_ERROR_NAMES as Readonly<Record<number, string>>)[code];
  if (name !== undefined) return `${name} (${hex(code, 2)})`;
  // 0x80–0x9F are defined by the application (the DFU bootloader uses none, but others do).
  return code >= 0x80 && code <= 0x9f ? `Application Error (${hex(code, 2)})` : `ATT error ${hex(code, 2)}`;
}

export function attError(request: string, handle: number, code: number): BledfuError {
  return new BledfuError('ATT_ERROR', `${request} on handle ${hex(handle, 4)} failed: ${attErrorName(code)}`, {
    layer: 'att',
    facts: { attError: code, context: { request, handle: hex(handle, 4) } },
  });
}

export function attTimeout(request: string, ms: number): BledfuError {
  return new BledfuError('ATT_TIMEOUT', `${request}: no response from the device within ${ms} ms`, {
    layer: 'att',
    remedy: 'the device stopped answering; ATT requires the link to be dropped after a timeout',
    facts: { context: { request } },
  });
}

export function attMalformed(message: string): BledfuError {
  return new BledfuError('MALFORMED_PACKET', message, { layer: 'att' });
}
