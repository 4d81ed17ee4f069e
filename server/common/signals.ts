/**
 * Joining abort signals without leaking. Node 20's AbortSignal.any() keeps every combined signal
 * that has a listener alive for as long as its sources live (measured: ~1.2 KB per call), so
 * combining a long-lived signal (a link, the server's shutdown) with a per-call one grows memory
 * with every call. A linked signal here holds its sources' listeners only until dispose().
 */
import { abortReason } from './errors.js';

export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Detaches from the sources; the signal then only aborts if it already has. */
  dispose(): void;
}

/** Aborts when the first of `sources` aborts, with that source's reason. */
export function linkSignals(...sources: readonly (AbortSignal | undefined)[]): LinkedSignal {
  const present = sources.filter((s): s is AbortSignal => s !== undefined);
  const controller = new AbortController();
  const first = present.find((s) => s.aborted);
  if (first !== undefined) {
    controller.abort(first.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const dispose = (): void => {
    for (const s of present) s.removeEventListener('abort', onAbort);
  };
  function onAbort(this: AbortSignal): void {
    dispose();
    controller.abort(this.reason);
  }
  for (const s of present) s.addEventListener('abort', onAbort);
  return { signal: controller.signal, dispose };
}

/** Runs `fn` with the sources linked, detaching when it settles. */
export async function withLinkedSignal<T>(
  sources: readonly (AbortSignal | undefined)[],
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const linked = linkSignals(...sources);
  try {
    if (linked.signal.aborted) throw abortReason(linked.signal);
    return await fn(linked.signal);
  } finally {
    linked.dispose();
  }
}
