/**
 * How `bledfu dfu` / `jobs watch` show a job's events: on a terminal (a fake one, 80 columns, with
 * a manual clock and refresh), in plain output, and as --json records.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Output } from '../../../clients/cli/output.js';
import { JobDisplay, STALL_MS } from '../../../clients/cli/progress.js';
import { DfuProgress, ImageType, Job, JobResult, JobState, type DfuEvent } from '../../../clients/ts/index.js';

interface Screen {
  readonly display: JobDisplay;
  readonly out: Output;
  /** What the terminal shows now: the finished lines and the live line (after \r redraws). */
  lines(): string[];
  /** The live line (the last, unfinished one), '' when none. */
  live(): string;
  advance(ms: number): void;
  refresh(): void;
  raw(): string;
}

function screen(options: { tty: boolean; json?: boolean; columns?: number }): Screen {
  let written = '';
  const stdout = Object.assign(new Writable({ write: (chunk, _enc, done) => ((written += String(chunk)), done()) }), {
    isTTY: options.tty,
    columns: options.columns ?? 80,
  });
  let now = 1_000_000;
  let tick: (() => void) | undefined;
  // stderr is the same terminal: what an error writes lands among stdout's lines.
  const stderr = new Writable({ write: (chunk, _enc, done) => ((written += String(chunk)), done()) });
  const out = new Output({ stdout, stderr }, options.json === true);
  const display = new JobDisplay(out, {
    now: () => now,
    ticker: (fn) => {
      tick = fn;
      return () => (tick = undefined);
    },
  });
  /** Applies \r and ESC[K as a terminal would, line by line. */
  const render = (): string[] => {
    const out: string[] = [];
    let current = '';
    for (const part of written.split(/(\r|\n|\x1b\[K)/)) {
      if (part === '\r') current = '';
      else if (part === '\n') (out.push(current), (current = ''));
      else if (part !== '\x1b[K') current += part;
    }
    out.push(current);
    return out;
  };
  return {
    display,
    out,
    lines: render,
    live: () => render().at(-1) ?? '',
    advance: (ms) => (now += ms),
    refresh: () => tick?.(),
    raw: () => written,
  };
}

const JOB = 'j1';
const snapshot = (state: JobState, progress?: DfuProgress): DfuEvent => ({
  type: 'snapshot',
  jobId: JOB,
  time: new Date(0),
  job: Job.fromPartial({ jobId: JOB, state, adapterId: 'sim0', images: [{}, {}], ...(progress === undefined ? {} : { progress }) }),
});
const state = (s: JobState, stateName: string, detail: string): DfuEvent => ({ type: 'state', jobId: JOB, time: new Date(0), state: s, stateName, detail });
function progress(imageIndex: number, imageBytesSent: number, imageBytesTotal: number, currentRate = 19_900): DfuEvent {
  return {
    type: 'progress',
    jobId: JOB,
    time: new Date(0),
    progress: DfuProgress.fromPartial({
      imageIndex,
      imageCount: 2,
      imageType: imageIndex === 0 ? ImageType.IMAGE_TYPE_SOFTDEVICE_BOOTLOADER : ImageType.IMAGE_TYPE_APPLICATION,
      imageBytesSent,
      imageBytesTotal,
      totalBytesSent: imageBytesSent,
      totalBytesTotal: 271_032,
      currentRate,
      eta: { seconds: 75, nanos: 0 },
    }),
  };
}
const finished: DfuEvent = { type: 'finished', jobId: JOB, time: new Date(0), result: JobResult.fromPartial({ success: true, duration: { seconds: 25, nanos: 0 } }), error: undefined };

describe('the job display on a terminal (80 columns)', () => {
  it('a queued job shows QUEUED and how long it has waited, refreshed while nothing arrives', () => {
    const s = screen({ tty: true });
    s.display.show(snapshot(JobState.JOB_STATE_QUEUED));
    assert.equal(s.live(), '| QUEUED: waiting for a free slot on adapter sim0 00:00');
    s.advance(2_000);
    s.refresh();
    assert.equal(s.live(), '/ QUEUED: waiting for a free slot on adapter sim0 00:02');
    s.display.show(state(JobState.JOB_STATE_QUEUED, 'QUEUED', 'waiting for job j0, which is updating the same device'));
    assert.match(s.live(), /^. QUEUED: waiting for job j0, which is updating the same device 00:00$/);
    s.display.show(state(JobState.JOB_STATE_CONNECTING, 'CONNECTING', 'looking for F0:0D:C0:DE:00:01'));
    assert.match(s.live(), /^. connecting: looking for the device and connecting 00:00$/);
    // The state change itself stays above, as a line of the job's history.
    assert.ok(s.lines().includes('connecting: looking for F0:0D:C0:DE:00:01'), s.lines().join('\n'));
  });

  it('per image: the bar counts this image\'s bytes; between images a running line says the device is rebooting', () => {
    const s = screen({ tty: true });
    s.display.show(snapshot(JobState.JOB_STATE_TRANSFERRING));
    s.display.show(progress(0, 86_016, 172_032));
    assert.match(s.live(), /^image 1\/2 sd\+bl \[[\u2588\u2591]+\]  50%  84\.0\/168\.0 KiB +19\.4 KiB\/s ETA 01:15$/);
    assert.ok(s.live().length <= 79);
    s.display.show(progress(0, 172_032, 172_032));
    // Reported twice by the server (checked, then executed): announced once.
    s.display.show(progress(0, 172_032, 172_032));
    assert.equal(s.lines().filter((l) => l === 'image 1/2 softdevice_bootloader: 168.0 KiB sent').length, 1, s.lines().join('\n'));
    assert.equal(s.live(), '| image 1/2: sent; waiting for the bootloader to restart for image 2/2 00:00');
    for (let second = 1; second <= 8; second++) {
      s.advance(1_000);
      s.refresh();
      assert.match(s.live(), new RegExp(`^. image 1/2: sent; waiting for the bootloader to restart for image 2/2 00:0${second}$`));
    }
    s.display.show(state(JobState.JOB_STATE_TRANSFERRING, 'TRANSFERRING', 'sending the application image (2/2, 99000 bytes)'));
    s.display.show(progress(1, 4_096, 99_000));
    assert.match(s.live(), /^image 2\/2 application \[[\u2588\u2591]+\]   4%  4\.0\/96\.7 KiB +19\.4 KiB\/s ETA 01:15$/);
    s.display.show(finished);
    assert.equal(s.live(), '', 'the live line is erased before the summary');
    assert.ok(s.lines().includes('done in 00:25'), s.lines().join('\n'));
  });

  it('a transfer that stops moving turns into a wait with a clock (e.g. a reconnect), and back into the bar when bytes come', () => {
    const s = screen({ tty: true });
    s.display.show(progress(1, 40_960, 99_000));
    s.advance(STALL_MS - 1_000);
    s.refresh();
    assert.match(s.live(), /^image 2\/2 application \[/);
    s.advance(4_000);
    s.refresh();
    assert.match(s.live(), /^. image 2\/2: 41% sent; waiting for the device 00:06$/);
    s.display.show(state(JobState.JOB_STATE_RESUMING, 'RESUMING', 'sending the application image (2/2, 99000 bytes)'));
    assert.match(s.live(), /^. resuming: resuming where the device left off 00:00$/);
    s.display.show(progress(1, 45_056, 99_000));
    assert.match(s.live(), /^image 2\/2 application \[/);
  });
});

describe('the live line and other output on the same terminal', () => {
  it('a line printed by the caller (--detach hint, Ctrl-C note, an error) goes above the live line, never glued to it', () => {
    const s = screen({ tty: true });
    s.display.show(snapshot(JobState.JOB_STATE_QUEUED));
    s.out.line('job j1 started; follow it with: bledfu jobs watch j1');
    assert.deepEqual(s.lines().slice(-2), ['job j1 started; follow it with: bledfu jobs watch j1', '| QUEUED: waiting for a free slot on adapter sim0 00:00']);
    s.display.line('cancelling job j1');
    s.out.forServer('a:1').error({ code: 'CANCELLED', grpcCode: 1, grpcCodeName: 'CANCELLED', message: 'job cancelled', metadata: {} });
    assert.deepEqual(s.lines().slice(-3), ['cancelling job j1', 'error: CANCELLED: job cancelled', '| QUEUED: waiting for a free slot on adapter sim0 00:00']);
    s.display.stop();
    assert.equal(s.live(), '');
    assert.ok(s.lines().includes('job j1 started; follow it with: bledfu jobs watch j1'));
  });
});

describe('the job display in plain output (pipe, log)', () => {
  it('says QUEUED, one line per 10 % of each image, and what happens between images', () => {
    const s = screen({ tty: false });
    s.display.show(snapshot(JobState.JOB_STATE_QUEUED));
    for (let sent = 0; sent <= 172_032; sent += 4_096) s.display.show(progress(0, sent, 172_032));
    s.display.show(progress(0, 172_032, 172_032));
    const text = s.raw();
    assert.doesNotMatch(text, /\r|\x1b/, 'no terminal control in plain output');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[1], 'queued: waiting for a free slot on adapter sim0');
    assert.equal(lines.filter((l) => l.startsWith('image 1/2 softdevice_bootloader: ')).length, 11, text);
    assert.ok(lines.includes('image 1/2 softdevice_bootloader: 168.0/168.0 KiB (100%) 19.4 KiB/s ETA 01:15'), text);
    assert.equal(lines.filter((l) => l === 'image 1/2 sent; waiting for the bootloader to restart for image 2/2').length, 1, text);
  });
});

describe('the job display with --json', () => {
  const records = (s: Screen): Record<string, unknown>[] =>
    s
      .raw()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('a progress report that repeats the last one (or the snapshot\'s) is not a new record', () => {
    const s = screen({ tty: false, json: true });
    const first = progress(0, 4_096, 172_032);
    s.display.show(snapshot(JobState.JOB_STATE_TRANSFERRING, first.type === 'progress' ? first.progress : undefined));
    s.display.show(first);
    s.display.show(progress(0, 8_192, 172_032));
    s.display.show(progress(0, 8_192, 172_032));
    s.display.show(progress(0, 8_192, 172_032, 15_000));
    const kinds = records(s).map((r) => `${String(r['type'])}${r['type'] === 'progress' ? ` ${JSON.stringify((r['progress'] as Record<string, unknown>)['imageBytesSent'])}` : ''}`);
    assert.deepEqual(kinds, ['snapshot', 'progress 8192', 'progress 8192']);
  });

  it('durations are protobuf JSON strings, states their enum names (as in the snapshot\'s job)', () => {
    const s = screen({ tty: false, json: true });
    s.display.show(state(JobState.JOB_STATE_ACTIVATING, 'ACTIVATING', 'waiting'));
    s.display.show(progress(1, 4_096, 99_000));
    s.display.show({
      ...finished,
      result: JobResult.fromPartial({ success: true, duration: { seconds: 1, nanos: 240_000_000 }, modelledAirTime: { seconds: 1, nanos: 0 }, phaseTimes: { scan: { seconds: 0, nanos: 5_000_000 } } }),
    } as DfuEvent);
    const [st, pr, fin] = records(s);
    assert.equal(st?.['state'], 'JOB_STATE_ACTIVATING');
    assert.equal((pr?.['progress'] as Record<string, unknown>)['eta'], '75s');
    const result = fin?.['result'] as Record<string, unknown>;
    assert.equal(result['duration'], '1.240s');
    assert.equal(result['modelledAirTime'], '1s');
    assert.equal((result['phaseTimes'] as Record<string, unknown>)['scan'], '0.005s');
  });
});
