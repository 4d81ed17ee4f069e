/**
 * DFU job metrics, fed by the job manager's event listener: jobs by outcome, failures by error
 * code, durations, firmware bytes sent, and the jobs waiting or running now. Labels are bounded:
 * adapter ids come from the configuration, results, codes, image kinds and DFU protocols (secure,
 * legacy) are enumerations; no
 * device address or job id ever becomes a label.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BledfuError } from '../common/errors.js';
import { ACTIVE_JOB_STATES, isTerminal, TERMINAL_JOB_STATES, type AdapterDirectory, type JobEvent, type JobId, type JobListener, type JobRef, type JobSnapshot } from '../jobs/types.js';

/** The values of the `protocol` label: every DFU protocol a package can be for (JobRef.protocol). */
export const DFU_PROTOCOLS = ['secure', 'legacy'] as const satisfies readonly JobRef['protocol'][];

/** What the DFU metrics need of the job manager. */
export interface JobSource {
  onEvent(listener: JobListener): () => void;
  list(filter?: { activeOnly?: boolean }): readonly JobSnapshot[];
}

/** Seconds: a small application over a fast link takes seconds, a SoftDevice over a slow one many minutes. */
export const DFU_DURATION_BUCKETS = [1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800];

/** What one running job has counted so far. */
interface Tally {
  /** It left QUEUED: its duration is a DFU's, worth observing. */
  started: boolean;
  /** Per image index, the most bytes counted; bytes past it are new. */
  readonly sent: Map<number, number>;
}

/**
 * Registers the DFU metrics on `registry` and keeps them current from `jobs`' events. Returns
 * the function that stops listening.
 */
export function observeJobs(registry: Registry, jobs: JobSource, adapters: AdapterDirectory): () => void {
  const jobsTotal = new Counter({
    name: 'bledfu_dfu_jobs_total',
    help: 'DFU jobs that ended, by adapter, result (succeeded, up-to-date, failed, cancelled) and DFU protocol of the package (secure, legacy).',
    labelNames: ['adapter', 'result', 'protocol'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'bledfu_dfu_failures_total',
    help: 'DFU jobs that failed, by adapter, bledfu error code (reason) and, when the device refused, its DFU result name (dfu_result; the extended error name for EXT_ERROR).',
    labelNames: ['adapter', 'reason', 'dfu_result'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'bledfu_dfu_duration_seconds',
    help: 'Wall time of DFU jobs from leaving QUEUED to their end, by adapter, result and DFU protocol (secure, legacy); jobs cancelled while queued are not observed.',
    labelNames: ['adapter', 'result', 'protocol'] as const,
    buckets: DFU_DURATION_BUCKETS,
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'bledfu_dfu_bytes_total',
    help: 'Firmware bytes the devices confirmed receiving, by adapter and image type; what a resumed job finds on the device is not counted again.',
    labelNames: ['adapter', 'image_type'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'bledfu_dfu_jobs',
    help: 'DFU jobs not yet ended, by adapter and state (queued, connecting, entering-bootloader, transferring, resuming, activating).',
    labelNames: ['adapter', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // Every known adapter and state has a series, 0 included, so an alert on a missing series never fires by mistake.
      for (const adapter of adapters.list()) for (const state of ACTIVE_JOB_STATES) this.set({ adapter: adapter.id, state }, 0);
      for (const job of jobs.list({ activeOnly: true })) this.inc({ adapter: job.adapterId, state: job.state });
    },
  });
  // Zero series from the start, so rate() and increase() see the first job of each kind.
  for (const adapter of adapters.list()) {
    for (const result of TERMINAL_JOB_STATES) for (const protocol of DFU_PROTOCOLS) jobsTotal.inc({ adapter: adapter.id, result, protocol }, 0);
  }

  const tallies = new Map<JobId, Tally>();
  const tallyOf = (id: JobId): Tally => {
    let t = tallies.get(id);
    if (t === undefined) {
      t = { started: false, sent: new Map() };
      tallies.set(id, t);
    }
    return t;
  };

  const onEvent = (event: JobEvent, job: JobRef): void => {
    switch (event.kind) {
      case 'state':
        // Any working state means it left QUEUED; the terminal state of a job cancelled while queued does not.
        if (event.state !== 'queued' && !isTerminal(event.state)) tallyOf(job.id).started = true;
        return;
      case 'progress': {
        const p = event.progress;
        const sent = tallyOf(job.id).sent;
        // What the device held when this job came to the image was counted by the job that sent
        // it; a report below the most seen (the device lost part of an object) is no new byte.
        const counted = sent.get(p.imageIndex) ?? p.imageBytesAtStart ?? 0;
        if (p.imageBytesSent > counted) {
          bytes.inc({ adapter: job.adapterId, image_type: p.imageKind }, p.imageBytesSent - counted);
          sent.set(p.imageIndex, p.imageBytesSent);
        }
        return;
      }
      case 'finished': {
        const started = tallies.get(job.id)?.started === true;
        tallies.delete(job.id);
        const result = job.state;
        jobsTotal.inc({ adapter: job.adapterId, result, protocol: job.protocol });
        if (started) duration.observe({ adapter: job.adapterId, result, protocol: job.protocol }, event.result.durationMs / 1000);
        const error = event.result.error;
        if (result === 'failed' && error !== undefined) {
          failures.inc({ adapter: job.adapterId, reason: error.code, dfu_result: dfuResultOf(error) });
        }
        return;
      }
      case 'snapshot':
        return;
    }
  };
  return jobs.onEvent(onEvent);
}

/** The device's own reason, when it refused: its extended error name if it gave one, else its result name. */
function dfuResultOf(error: BledfuError): string {
  return error.facts.dfuExtendedName ?? error.facts.dfuResultName ?? '';
}
