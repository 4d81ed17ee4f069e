/** Several concurrent producers read as one async iterable. */

/** Pushes one item to the merged stream. */
export type Push<T> = (item: T) => void;

/**
 * Starts every producer at once and yields what they push, in arrival order, until all have
 * finished. A producer reports its own failures as items: a rejection only ends that producer,
 * so one failing source never ends the others. The buffer is unbounded, which suits the
 * low-rate streams it merges (advertisements); stopping early is the producers' business (the
 * caller aborts their signal when it stops reading).
 */
export async function* mergeProducers<T>(producers: readonly ((push: Push<T>) => Promise<void>)[]): AsyncGenerator<T> {
  const buffer: T[] = [];
  let wake: (() => void) | undefined;
  let running = producers.length;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const done = (): void => {
    running--;
    notify();
  };
  for (const produce of producers) {
    produce((item) => {
      buffer.push(item);
      notify();
    }).then(done, done);
  }
  for (;;) {
    while (buffer.length > 0) yield buffer.shift() as T;
    if (running === 0) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}
