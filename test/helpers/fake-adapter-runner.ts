/**
 * A DFU runner the test drives step by step: each call becomes a RunControl through which the
 * test emits engine events and decides how the run ends. Cancellation behaves like a real
 * engine: an aborted signal makes the run reject with the abort reason.
 */
import { parseAddress, type DeviceAddress } from '../../server/ble/address.js';
import type { Adapter } from '../../server/ble/types.js';
import { abortReason, BledfuError } from '../../server/common/errors.js';
import type {
  DfuContext,
  DfuEvent,
  DfuOptions,
  DfuOutcome,
  DfuPackage,
  DfuRunner,
  AnyDfuPackage,
  DfuTarget,
  ImageKind,
  PackageImage,
} from '../../server/dfu/types.js';

export interface RunControl {
  readonly adapter: Adapter;
  readonly pkg: AnyDfuPackage;
  readonly target: DfuTarget;
  readonly options: DfuOptions;
  readonly context: DfuContext;
  emit(event: DfuEvent): void;
  succeed(outcome?: Partial<DfuOutcome>): void;
  fail(error: unknown): void;
  /** Settles when the run has returned (either way). */
  readonly settled: Promise<void>;
}

export class ControlledRunner {
  readonly calls: RunControl[] = [];
  readonly #waiting: { n: number; resolve: (c: RunControl) => void }[] = [];
  /**
   * While true, runs started from now on ignore cancellation: a cancelled job stays running until
   * the test ends it (fail/succeed), as a device slow to stop would keep it.
   */
  holdCancel = false;

  readonly run: DfuRunner = (adapter, pkg, target, options, context) => {
    let resolve!: (o: DfuOutcome) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<DfuOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const onAbort = (): void => reject(abortReason(context.signal));
    if (!this.holdCancel) {
      if (context.signal.aborted) onAbort();
      else context.signal.addEventListener('abort', onAbort, { once: true });
    }
    const fallback: DeviceAddress = target.kind === 'address' ? target.address : parseAddress('F0:00:00:00:00:01');
    const control: RunControl = {
      adapter,
      pkg,
      target,
      options,
      context,
      emit: (event) => context.onEvent(event),
      succeed: (outcome) => resolve({ address: fallback, ...outcome }),
      fail: (error) => reject(error),
      settled: result.then(
        () => undefined,
        () => undefined,
      ),
    };
    this.calls.push(control);
    for (const w of this.#waiting.filter((w) => w.n === this.calls.length - 1)) w.resolve(control);
    return result;
  };

  /** The n-th call (0-based), waiting for it if it has not happened yet. */
  call(n: number): Promise<RunControl> {
    const existing = this.calls[n];
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise((resolve) => this.#waiting.push({ n, resolve }));
  }
}

export function fakeImage(kind: ImageKind, size: number): PackageImage {
  return {
    summary: { kind, size, fwVersion: 1, hwVersion: 52, sdReq: [0x100], sha256: '00'.repeat(32), signed: true, isDebug: false },
    bin: new Uint8Array(size),
    dat: new Uint8Array(16),
  };
}

export function fakePackage(sizes: readonly [ImageKind, number][] = [['application', 1000]]): DfuPackage {
  return { images: sizes.map(([k, s]) => fakeImage(k, s)), sha256: 'ab'.repeat(32), size: 4096 };
}

/** Progress events for `sent` of `total` bytes in a one-image package. */
export function progress(sent: number, total: number, imageKind: ImageKind = 'application'): DfuEvent {
  return {
    kind: 'progress',
    imageIndex: 0,
    imageCount: 1,
    imageKind,
    imageBytesSent: sent,
    imageBytesTotal: total,
    totalBytesSent: sent,
    totalBytesTotal: total,
  };
}

export const FAKE_PACKAGE_MAGIC = 'FAKEDFU';

/**
 * A package reader that accepts bytes starting with FAKE_PACKAGE_MAGIC (the rest is padding
 * giving the size) and rejects anything else as PACKAGE_INVALID, counting its calls.
 */
export function fakeReadPackage(): { read: (bytes: Uint8Array) => Promise<DfuPackage>; calls: number } {
  const state = {
    calls: 0,
    read: async (bytes: Uint8Array): Promise<DfuPackage> => {
      state.calls++;
      const head = new TextDecoder().decode(bytes.subarray(0, FAKE_PACKAGE_MAGIC.length));
      if (head !== FAKE_PACKAGE_MAGIC) {
        throw new BledfuError('PACKAGE_INVALID', 'manifest.json missing: not an nrfutil package', {
          layer: 'package',
          remedy: 'build the package with nrfutil pkg generate',
        });
      }
      const { createHash } = await import('node:crypto');
      return { ...fakePackage([['application', 1000]]), sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    },
  };
  return state;
}

export function fakePackageBytes(size = 64): Uint8Array {
  const out = new Uint8Array(Math.max(size, FAKE_PACKAGE_MAGIC.length));
  out.set(new TextEncoder().encode(FAKE_PACKAGE_MAGIC));
  return out;
}
