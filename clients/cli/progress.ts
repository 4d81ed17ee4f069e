/**
 * Shows a job's events: a progress bar on a terminal, plain lines in a pipe or log, NDJSON with
 * --json. One class so `bledfu dfu` and `bledfu jobs watch` look the same.
 */
import cliProgress from 'cli-progress';
import { DeviceState, deviceStateToJSON, DfuProgress, imageTypeToJSON, Job, JobResult, type DfuEvent } from '../ts/index.js';
import { durationMs, formatBytes, formatDuration, formatPhaseTimes, formatRate } from './format.js';
import type { Output } from './output.js';

function imageTypeName(p: DfuProgress): string {
  return imageTypeToJSON(p.imageType).replace(/^IMAGE_TYPE_/, '').toLowerCase();
}

/** The final line's account of where the device ended (nothing when the server did not see it). */
function whereTheDeviceIs(state: DeviceState): string {
  switch (state) {
    case DeviceState.DEVICE_STATE_APPLICATION:
      return ', application running';
    case DeviceState.DEVICE_STATE_DFU_MODE:
      return ', the device stays in DFU mode without an application: send an application package next';
    default:
      return '';
  }
}

export class JobDisplay {
  readonly #out: Output;
  #bar: cliProgress.SingleBar | undefined;
  #lastPlainStep = -1;
  #lastImage = -1;

  constructor(out: Output) {
    this.#out = out;
  }

  show(e: DfuEvent): void {
    if (this.#out.json) {
      this.#out.record(this.#record(e));
      return;
    }
    switch (e.type) {
      case 'snapshot':
        this.#text(`job ${e.jobId} on adapter ${e.job.adapterId || '(default)'}: ${e.job.images.length} image(s)`);
        if (e.job.progress !== undefined) this.#progress(e.job.progress);
        return;
      case 'state':
        this.#text(`${e.stateName.toLowerCase()}${e.detail === '' ? '' : `: ${e.detail}`}`);
        return;
      case 'progress':
        this.#progress(e.progress);
        return;
      case 'finished': {
        const took = formatDuration(durationMs(e.result.duration));
        const air = durationMs(e.result.modelledAirTime);
        if (e.result.success) {
          const rev = e.result.firmwareRevision === '' ? '' : `, firmware ${e.result.firmwareRevision}`;
          this.#text(`done in ${took}${whereTheDeviceIs(e.result.deviceState)}${rev}${air === undefined ? '' : ` (modelled air time ${formatDuration(air)})`}`);
        }
        // Where the time went, for failures too (the caller reports the error itself).
        if (e.result.phaseTimes !== undefined) this.#text(`time per phase: ${formatPhaseTimes(e.result.phaseTimes)}`);
        // Failures are reported by the caller with the error the client throws after `finished` (and its remedy).
        return;
      }
    }
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
  }

  #record(e: DfuEvent): Record<string, unknown> {
    const base = { type: e.type, jobId: e.jobId, time: e.time?.toISOString() };
    switch (e.type) {
      case 'snapshot':
        return { ...base, job: Job.toJSON(e.job) };
      case 'state':
        return { ...base, state: e.stateName, detail: e.detail };
      case 'progress':
        return { ...base, progress: DfuProgress.toJSON(e.progress) };
      case 'finished':
        // deviceState is spelled out even when UNSPECIFIED (toJSON drops default values), so scripts can rely on it.
        return { ...base, success: e.result.success, deviceState: deviceStateToJSON(e.result.deviceState), result: JobResult.toJSON(e.result) };
    }
  }

  #text(line: string): void {
    this.stop();
    this.#out.line(line);
  }

  #progress(p: DfuProgress): void {
    const payload = {
      image: p.imageIndex + 1,
      count: p.imageCount,
      kind: imageTypeName(p),
      sent: formatBytes(p.totalBytesSent),
      size: formatBytes(p.totalBytesTotal),
      rate: formatRate(p.currentRate),
      eta: formatDuration(durationMs(p.eta)),
    };
    if (this.#out.interactive) {
      if (this.#bar === undefined) {
        this.#bar = new cliProgress.SingleBar(
          {
            format: 'image {image}/{count} {kind} |{bar}| {percentage}% {sent}/{size} {rate} ETA {eta}',
            stream: this.#out.io.stdout,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        this.#bar.start(p.totalBytesTotal, p.totalBytesSent, payload);
      } else {
        this.#bar.setTotal(p.totalBytesTotal);
        this.#bar.update(p.totalBytesSent, payload);
      }
      return;
    }
    // Plain output: one line per 10 % and per image, so logs stay readable.
    const step = p.totalBytesTotal === 0 ? 10 : Math.floor((p.totalBytesSent * 10) / p.totalBytesTotal);
    if (step === this.#lastPlainStep && p.imageIndex === this.#lastImage) return;
    this.#lastPlainStep = step;
    this.#lastImage = p.imageIndex;
    this.#out.line(
      `image ${payload.image}/${payload.count} ${payload.kind}: ${payload.sent}/${payload.size} (${step * 10}%) ${payload.rate} ETA ${payload.eta}`,
    );
  }
}
