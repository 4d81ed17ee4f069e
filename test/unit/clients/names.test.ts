/** The TypeScript client's enum name helpers for the DFU protocol (Job, JobResult, UploadPackageResponse, AuditRecord). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DFU_PROTOCOL_TEXT, dfuProtocolName, DfuProtocol } from '../../../clients/ts/index.js';

describe('TS client: DFU protocol names', () => {
  it('names each DfuProtocol value without its prefix; UNSPECIFIED is what a record of an older server holds', () => {
    assert.deepEqual(
      [DfuProtocol.DFU_PROTOCOL_SECURE, DfuProtocol.DFU_PROTOCOL_LEGACY, DfuProtocol.DFU_PROTOCOL_UNSPECIFIED].map(dfuProtocolName),
      ['SECURE', 'LEGACY', 'UNSPECIFIED'],
    );
  });

  it('has the text people read for each protocol', () => {
    assert.deepEqual(DFU_PROTOCOL_TEXT, { secure: 'Secure DFU', legacy: 'legacy DFU (SDK ≤ 11 / Adafruit)' });
  });
});
