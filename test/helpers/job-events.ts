/**
 * Job event streams as a test reads them through the generated client: collecting a stream,
 * reading up to an event, the states and progress it carried, and targets as users type them.
 */
import { AddressType, jobStateName, type DfuEvent, type DfuProgress, type Target } from '../../clients/ts/index.js';

export interface Drained {
  readonly events: DfuEvent[];
  /** What the stream threw at its end (a failed job ends its call with the job's error). */
  readonly error: unknown;
}

/** Collects a stream's events and how it ended. */
export async function drain(events: AsyncIterable<DfuEvent>): Promise<Drained> {
  const out: DfuEvent[] = [];
  try {
    for await (const e of events) out.push(e);
    return { events: out, error: undefined };
  } catch (error) {
    return { events: out, error };
  }
}

/** Reads up to the first event satisfying `pred`, leaving the iterator open; collects what it read. */
export async function until(it: AsyncIterator<DfuEvent>, pred: (e: DfuEvent) => boolean, seen?: DfuEvent[]): Promise<DfuEvent> {
  for (;;) {
    const r = await it.next();
    if (r.done === true) throw new Error('stream ended before the awaited event');
    seen?.push(r.value);
    if (pred(r.value)) return r.value;
  }
}

export const states = (events: readonly DfuEvent[]): string[] => events.flatMap((e) => (e.type === 'state' ? [e.stateName] : []));
export const progresses = (events: readonly DfuEvent[]): DfuProgress[] => events.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
export function finished(events: readonly DfuEvent[]): Extract<DfuEvent, { type: 'finished' }> | undefined {
  const last = events.at(-1);
  return last?.type === 'finished' ? last : undefined;
}

/** A target by address, as a user would type it (the simulated devices use random static addresses). */
export function addressTarget(value: string): Target {
  return { selector: { $case: 'address', address: { value, type: AddressType.ADDRESS_TYPE_RANDOM } } };
}

/** "app v<fw_version> <first 8 hex of the SHA-256>": how the simulated application names its image. */
export function revisionOf(fwVersion: number, sha256: string): string {
  return `app v${fwVersion} ${sha256.slice(0, 8)}`;
}

/** The states a job went through as one stream saw them: the snapshot's, then each change (QUEUED left out). */
export function journey(events: readonly DfuEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const name = e.type === 'snapshot' ? jobStateName(e.job.state) : e.type === 'state' ? e.stateName : undefined;
    if (name !== undefined && name !== 'QUEUED' && out.at(-1) !== name) out.push(name);
  }
  return out;
}
