/**
 * Shows a job's events: a live line on a terminal (progressLine.ts), plain lines in a pipe or
 * log, NDJSON with --json. One class so `bledfu dfu` and `bledfu jobs watch` look the same.
 */
import { DeviceInfo, DeviceState, deviceStateToJSON, DfuProgress, imageTypeToJSON, JobState, jobStateToJSON, type DfuEvent } from '../ts/index.js';
import { durationMs, formatBytes, formatDeviceInfo, formatDuration, formatPhaseTimes, formatRate, protocolText, upToDateText } from './format.js';
import type { Output } from './output.js';
import { formatBytePair, renderLiveLine, type LiveView } from './progressLine.js';
import { jobJson, progressJson, resultJson } from './records.js';

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

/** What the job waits for in each state that moves no bytes (the live line's step). */
function waitingFor(state: JobState, detail: string, adapterId: string): string | undefined {
  switch (state) {
    case JobState.JOB_STATE_QUEUED:
      return detail === '' ? `waiting for a free slot on adapter ${adapterId || '(default)'}` : detail;
    case JobState.JOB_STATE_CONNECTING:
      return 'looking for the device and connecting';
    case JobState.JOB_STATE_ENTERING_BOOTLOADER:
      return 'waiting for the bootloader';
    case JobState.JOB_STATE_TRANSFERRING:
      return 'preparing the transfer';
    case JobState.JOB_STATE_RESUMING:
      return 'resuming where the device left off';
    case JobState.JOB_STATE_ACTIVATING:
      return 'waiting for the new firmware to start';
    default:
      return undefined; // ended: nothing to wait for
  }
}

/** "QUEUED" stands out as a label; the other states read as words. */
function stateLabel(state: JobState): string {
  const name = jobStateToJSON(state).replace(/^JOB_STATE_/, '');
  return state === JobState.JOB_STATE_QUEUED ? name : name.toLowerCase().replace(/_/g, ' ');
}

/** Once an image is all sent: what the device does before the next bytes (or the end) come. */
function afterImage(p: DfuProgress): string {
  return p.imageIndex + 1 < p.imageCount
    ? `sent; waiting for the bootloader to restart for image ${p.imageIndex + 2}/${p.imageCount}`
    : 'sent; waiting for the device to activate it';
}

const ENDED: ReadonlySet<JobState> = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_UP_TO_DATE, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** No progress for this long during a transfer: the live line says the job is waiting. */
export const STALL_MS = 3_000;

/** Calls `fn` about every second until the returned function is called. */
export type Ticker = (fn: () => void) => () => void;

const everySecond: Ticker = (fn) => {
  const timer = setInterval(fn, 1_000);
  timer.unref();
  return () => clearInterval(timer);
};

export interface JobDisplayOptions {
  /** The terminal's clock, for elapsed times on the live line only (default Date.now). */
  readonly now?: () => number;
  /** Refreshes the live line (default: every second, not keeping the process alive). */
  readonly ticker?: Ticker;
}

/** What the live line stands for; rendered afresh on every refresh. */
type Live =
  | { readonly kind: 'transfer'; readonly progress: DfuProgress; readonly since: number }
  | { readonly kind: 'activity'; readonly label: string; readonly step: string; readonly since: number };

export class JobDisplay {
  readonly #out: Output;
  readonly #now: () => number;
  readonly #ticker: Ticker;
  #live: Live | undefined;
  #stopTicker: (() => void) | undefined;
  #tick = 0;
  #adapterId = '';
  #lastPlainStep = -1;
  #lastImage = -1;
  /** Images whose completion was announced (a done image is reported twice: checked, executed). */
  #imagesDone = new Set<number>();
  /** The last progress shown in --json, so a repeat of it is not a new record. */
  #lastProgressJson: string | undefined;

  constructor(out: Output, options: JobDisplayOptions = {}) {
    this.#out = out;
    this.#now = options.now ?? Date.now;
    this.#ticker = options.ticker ?? everySecond;
  }

  show(e: DfuEvent): void {
    if (this.#out.json) {
      this.#record(e);
      return;
    }
    switch (e.type) {
      case 'snapshot': {
        this.#adapterId = e.job.adapterId;
        // Which protocol (and so which bootloaders) the package is for: the server chose it from the package.
        const protocol = protocolText(e.job.protocol);
        this.#text(`job ${e.jobId} on adapter ${e.job.adapterId || '(default)'}: ${protocol === undefined ? '' : `${protocol}, `}${e.job.images.length} image(s)`);
        // A job that has ended shows nothing live: its finished event follows at once.
        if (ENDED.has(e.job.state)) return;
        if (e.job.progress !== undefined && e.job.state !== JobState.JOB_STATE_QUEUED) this.#progress(e.job.progress);
        else this.#waiting(e.job.state, '', e.job.state === JobState.JOB_STATE_QUEUED);
        return;
      }
      case 'state':
        this.#text(`${e.stateName.toLowerCase()}${e.detail === '' ? '' : `: ${e.detail}`}`);
        this.#waiting(e.state, e.detail, false);
        return;
      case 'progress':
        this.#progress(e.progress);
        return;
      case 'device-info':
        this.#text(`device: ${formatDeviceInfo(e.info)}`);
        return;
      case 'finished': {
        this.#setLive(undefined);
        const took = formatDuration(durationMs(e.result.duration));
        const air = durationMs(e.result.modelledAirTime);
        if (e.result.state === JobState.JOB_STATE_UP_TO_DATE) {
          this.#text(`${upToDateText(e.result)} (checked in ${took})`);
        } else if (e.result.success) {
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

  /** A line of the job's history printed by the caller (e.g. about Ctrl-C): above the live line on a terminal. */
  line(text: string): void {
    this.#text(text);
  }

  /** Erases the live line and stops refreshing it (before the caller prints an outcome). */
  stop(): void {
    this.#setLive(undefined);
  }

  #record(e: DfuEvent): void {
    const base = { jobId: e.jobId, time: e.time?.toISOString() };
    switch (e.type) {
      case 'snapshot':
        this.#lastProgressJson = e.job.progress === undefined ? undefined : JSON.stringify(progressJson(e.job.progress));
        this.#out.record({ type: e.type, ...base, job: jobJson(e.job) });
        return;
      case 'state':
        // The enum value name, as in the snapshot's job.state (protobuf JSON).
        this.#out.record({ type: e.type, ...base, state: jobStateToJSON(e.state), detail: e.detail });
        return;
      case 'progress': {
        // The server reports an object's end twice (checked, then executed) and may repeat a
        // snapshot's progress: a record is new information or none at all.
        const progress = progressJson(e.progress);
        const key = JSON.stringify(progress);
        if (key === this.#lastProgressJson) return;
        this.#lastProgressJson = key;
        this.#out.record({ type: e.type, ...base, progress });
        return;
      }
      case 'device-info':
        // Every field spelled out (toJSON drops empty strings): "" is "the device did not say".
        this.#out.record({ type: 'deviceInfo', ...base, deviceInfo: { ...DeviceInfo.fromPartial({}), ...(DeviceInfo.toJSON(e.info) as object) } });
        return;
      case 'finished':
        // deviceState is spelled out even when UNSPECIFIED (toJSON drops default values), so scripts can rely on it.
        this.#out.record({ type: e.type, ...base, success: e.result.success, deviceState: deviceStateToJSON(e.result.deviceState), result: resultJson(e.result) });
        return;
    }
  }

  /** A permanent line: above the live line on a terminal (Output keeps the live line below it). */
  #text(line: string): void {
    this.#out.line(line);
  }

  /** A state that moves no bytes: the live line says what the job waits for (QUEUED also in plain output). */
  #waiting(state: JobState, detail: string, plainToo: boolean): void {
    const step = waitingFor(state, detail, this.#adapterId);
    if (!this.#out.interactive) {
      if (plainToo && step !== undefined) this.#out.line(`${stateLabel(state).toLowerCase()}: ${step}`);
      return;
    }
    this.#setLive(step === undefined ? undefined : { kind: 'activity', label: stateLabel(state), step, since: this.#now() });
  }

  #progress(p: DfuProgress): void {
    const done = p.imageBytesTotal > 0 && p.imageBytesSent >= p.imageBytesTotal;
    const firstDone = done && !this.#imagesDone.has(p.imageIndex);
    if (firstDone) this.#imagesDone.add(p.imageIndex);
    const label = `image ${p.imageIndex + 1}/${p.imageCount}`;
    if (this.#out.interactive) {
      if (!done) {
        this.#setLive({ kind: 'transfer', progress: p, since: this.#now() });
        return;
      }
      if (!firstDone) return;
      // The bar's work is over: a line for the record, then the wait for the device.
      this.#setLive(undefined);
      this.#text(`${label} ${imageTypeName(p)}: ${formatBytes(p.imageBytesTotal)} sent`);
      this.#setLive({ kind: 'activity', label, step: afterImage(p), since: this.#now() });
      return;
    }
    // Plain output: one line per 10 % of each image, so logs stay readable.
    const step = p.imageBytesTotal === 0 ? 10 : Math.floor((p.imageBytesSent * 10) / p.imageBytesTotal);
    if (step !== this.#lastPlainStep || p.imageIndex !== this.#lastImage) {
      this.#lastPlainStep = step;
      this.#lastImage = p.imageIndex;
      this.#out.line(
        `${label} ${imageTypeName(p)}: ${formatBytePair(p.imageBytesSent, p.imageBytesTotal)} (${step * 10}%) ${formatRate(p.currentRate)} ETA ${formatDuration(durationMs(p.eta))}`,
      );
    }
    if (firstDone) this.#out.line(`${label} ${afterImage(p)}`);
  }

  #setLive(live: Live | undefined): void {
    this.#live = live;
    if (live === undefined) {
      this.#stopTicker?.();
      this.#stopTicker = undefined;
      this.#out.live(undefined);
      return;
    }
    this.#stopTicker ??= this.#ticker(() => {
      this.#tick++;
      this.#render();
    });
    this.#render();
  }

  /** The live line as it stands now (a transfer that stalled reads as a wait). */
  #view(): LiveView | undefined {
    const live = this.#live;
    if (live === undefined) return undefined;
    const elapsedMs = this.#now() - live.since;
    if (live.kind === 'activity') return { kind: 'activity', label: live.label, step: live.step, elapsedMs, tick: this.#tick };
    const p = live.progress;
    if (elapsedMs >= STALL_MS) {
      const percent = p.imageBytesTotal === 0 ? 0 : Math.floor((p.imageBytesSent * 100) / p.imageBytesTotal);
      return { kind: 'activity', label: `image ${p.imageIndex + 1}/${p.imageCount}`, step: `${percent}% sent; waiting for the device`, elapsedMs, tick: this.#tick };
    }
    return {
      kind: 'transfer',
      image: p.imageIndex + 1,
      imageCount: p.imageCount,
      imageKind: imageTypeName(p),
      sent: p.imageBytesSent,
      total: p.imageBytesTotal,
      rate: p.currentRate,
      etaMs: durationMs(p.eta),
    };
  }

  #render(): void {
    const view = this.#out.interactive ? this.#view() : undefined;
    if (view !== undefined) this.#out.live(renderLiveLine(view, this.#out.columns));
  }
}
