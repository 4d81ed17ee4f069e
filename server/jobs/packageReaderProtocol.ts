/**
 * What crosses between the package readers (packageReaders.ts) and their worker threads
 * (packageWorker.ts). Structured clone keeps plain data only, so a BledfuError travels as its
 * fields and is rebuilt on the other side with the same code, layer, remedy and facts.
 */
import { BledfuError, isBledfuError, type ErrorCode, type ErrorFacts, type ErrorLayer } from '../common/errors.js';
import type { AnyDfuPackage } from '../dfu/types.js';

export interface ReaderRequest {
  readonly id: number;
  /** The .zip, in a buffer of its own that is transferred (not copied) to the worker. */
  readonly bytes: Uint8Array;
}

export type SentError =
  | { readonly bledfu: true; readonly code: ErrorCode; readonly message: string; readonly layer: ErrorLayer; readonly remedy?: string; readonly facts: ErrorFacts }
  /** Anything else: a reader bug; validatePackage turns it into PACKAGE_INVALID as in-process. */
  | { readonly bledfu: false; readonly message: string };

export type ReaderReply =
  | { readonly id: number; readonly ok: true; readonly pkg: AnyDfuPackage }
  | { readonly id: number; readonly ok: false; readonly error: SentError };

export function sendableError(e: unknown): SentError {
  if (isBledfuError(e)) {
    return { bledfu: true, code: e.code, message: e.message, layer: e.layer, facts: e.facts, ...(e.remedy === undefined ? {} : { remedy: e.remedy }) };
  }
  return { bledfu: false, message: e instanceof Error ? e.message : String(e) };
}

export function revivedError(sent: SentError): Error {
  if (!sent.bledfu) return new Error(sent.message);
  return new BledfuError(sent.code, sent.message, { layer: sent.layer, facts: sent.facts, ...(sent.remedy === undefined ? {} : { remedy: sent.remedy }) });
}
