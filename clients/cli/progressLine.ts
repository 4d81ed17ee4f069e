/**
 * The one live line `bledfu dfu` and `bledfu jobs watch` keep at the bottom of a terminal, as a
 * pure function of what is happening and how wide the terminal is, so it is tested without one.
 *
 * Two kinds of line: a transfer (bytes of the current image moving) and an activity (nothing
 * moves: queued, connecting, a reboot between images, a reconnect). An activity line still
 * changes every second (spinner and elapsed time), so a silent reboot never looks like a hang.
 */
import { formatBytes, formatDuration, formatRate } from './format.js';

/** Bytes of one image on their way. */
export interface TransferView {
  readonly kind: 'transfer';
  /** 1-based, as printed: "image 2/3". */
  readonly image: number;
  readonly imageCount: number;
  /** "application", "softdevice_bootloader", … */
  readonly imageKind: string;
  /** Of this image. */
  readonly sent: number;
  readonly total: number;
  /** Bytes per second, the server's current rate. */
  readonly rate: number;
  /** Time left for the whole job; undefined while the server cannot tell yet. */
  readonly etaMs: number | undefined;
}

/** Waiting for something that moves no bytes. */
export interface ActivityView {
  readonly kind: 'activity';
  /** Shown first and never shortened: "QUEUED", "image 1/2", "connecting". */
  readonly label: string;
  /** What the job waits for; shortened with "…" when the line is too narrow. */
  readonly step: string;
  /** Since the step began. */
  readonly elapsedMs: number;
  /** Advances the spinner (any integer; the display counts its refreshes). */
  readonly tick: number;
}

export type LiveView = TransferView | ActivityView;

/** Short names for image kinds, used only when the full name leaves no room for the bar. */
const SHORT_KIND: Readonly<Record<string, string>> = {
  softdevice_bootloader: 'sd+bl',
  softdevice: 'sd',
  bootloader: 'bl',
  application: 'app',
};

const SPINNER = ['|', '/', '-', '\\'] as const;
const MIN_BAR = 10;
const MAX_BAR = 40;
const FILLED = '\u2588';
const EMPTY = '\u2591';

/**
 * The line for `view` on a terminal `columns` wide. It never reaches the last column (a
 * character there makes some terminals wrap, and `\r` then redraws the wrong line). What gives way
 * when space is short, in order: the bar shrinks, the image kind is abbreviated, the bar goes,
 * the image kind goes, the byte counts go. Percentage, rate and ETA stay.
 */
export function renderLiveLine(view: LiveView, columns: number): string {
  const width = Math.max(1, columns - 1);
  return view.kind === 'transfer' ? renderTransfer(view, width) : renderActivity(view, width);
}

/** "108.0/172.0 KiB" when both have one unit, else "512 B/172.0 KiB". */
export function formatBytePair(sent: number, total: number): string {
  const [s, t] = [formatBytes(sent), formatBytes(total)];
  const unit = (text: string): string => text.slice(text.indexOf(' '));
  return unit(s) === unit(t) ? `${s.slice(0, s.indexOf(' '))}/${t}` : `${s}/${t}`;
}

/** The widest a rate gets before its unit changes ("1023.9 KiB/s"), so the line does not jitter. */
const RATE_WIDTH = formatRate(1023.9 * 1024).length;

function renderTransfer(v: TransferView, width: number): string {
  const fraction = v.total <= 0 ? 1 : Math.min(1, Math.max(0, v.sent / v.total));
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const rate = formatRate(v.rate).padStart(RATE_WIDTH);
  const eta = `ETA ${formatDuration(v.etaMs)}`;
  // Padded to the width it has at the end of the image, so the bar keeps its size as bytes come.
  const bytes = formatBytePair(v.sent, v.total).padStart(formatBytePair(v.total, v.total).length);
  const count = `image ${v.image}/${v.imageCount}`;
  const tail = `${percent} ${bytes} ${rate} ${eta}`;
  for (const kind of [v.imageKind, SHORT_KIND[v.imageKind] ?? v.imageKind]) {
    const head = `${count} ${kind}`;
    const room = width - head.length - tail.length - 4; // " [" … "] "
    if (room >= MIN_BAR) return `${head} [${bar(fraction, Math.min(room, MAX_BAR))}] ${tail}`;
  }
  const tight = [percent.trim(), formatBytePair(v.sent, v.total), formatRate(v.rate), eta].join(' ');
  const candidates = [
    `${count} ${SHORT_KIND[v.imageKind] ?? v.imageKind} ${tight}`,
    `${count} ${tight}`,
    `${v.image}/${v.imageCount} ${percent.trim()} ${formatRate(v.rate)} ${eta}`,
    `${percent.trim()} ${formatRate(v.rate)} ${eta}`,
  ];
  return candidates.find((c) => c.length <= width) ?? (candidates.at(-1) as string).slice(0, width);
}

function bar(fraction: number, size: number): string {
  const filled = Math.round(fraction * size);
  return FILLED.repeat(filled) + EMPTY.repeat(size - filled);
}

function renderActivity(v: ActivityView, width: number): string {
  const spinner = SPINNER[((v.tick % SPINNER.length) + SPINNER.length) % SPINNER.length] as string;
  const head = `${spinner} ${v.label}`;
  const clock = formatDuration(v.elapsedMs);
  const room = width - head.length - clock.length - 3; // ": " before the step, " " before the clock
  if (room <= 0 || v.step === '') return `${head} ${clock}`.slice(0, width);
  const step = v.step.length <= room ? v.step : `${v.step.slice(0, Math.max(0, room - 1))}\u2026`;
  return `${head}: ${step} ${clock}`;
}
