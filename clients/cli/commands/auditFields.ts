/** An audit record's fields as `bledfu audit` writes them, in its text lines and its CSV report alike. */
import { auditResultToJSON, imageTypeToJSON, type AuditRecord, type AuditResult } from '../../ts/index.js';

/** "AUDIT_RESULT_INTERRUPTED" → "interrupted", "AUDIT_RESULT_UP_TO_DATE" → "up-to-date": as --result and the audit log spell it. */
export function resultName(r: AuditResult): string {
  return auditResultToJSON(r).replace(/^AUDIT_RESULT_/, '').toLowerCase().replace(/_/g, '-');
}

/** "application v7+bootloader v2": the package's images and their versions. */
export function imagesText(r: AuditRecord): string {
  return r.images.map((i) => `${imageTypeToJSON(i.type).replace(/^IMAGE_TYPE_/, '').toLowerCase()}${i.fwVersion === undefined ? '' : ` v${i.fwVersion}`}`).join('+');
}
