/**
 * Waiting, with cancellation. Every wait in bledfu takes an AbortSignal so that a job cancel or
 * a link loss ends it at once with a recognisable error.
 */
import { abortReason, BledfuError, type ErrorCode, type ErrorLayer } from './errors.js';

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface TimeoutSpec {
  readonly ms: number;
  readonly code: ErrorCode;
  readonly layer: ErrorLayer;
  readonly message: string;
  readonly remedy?: string;
}

/**
 * A signal that aborts with a typed timeout error after `spec.ms`, or when `parent` aborts.
 * Call `dispose()` when the guarded operation finished, so the timer does not keep the process alive.
 */
export function timeoutSignal(spec: TimeoutSpec, parent?: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(
      new BledfuError(spec.code, spec.message, {
        layer: spec.layer,
        ...(spec.remedy === undefined ? {} : { remedy: spec.remedy }),
      }),
    );
  }, spec.ms);
  const onParent = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Resolves when `signal` aborts (never rejects); for racing against long waits. */
export function whenAborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}
