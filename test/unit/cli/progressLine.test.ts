/**
 * The live line of `bledfu dfu` / `jobs watch` on a terminal, rendered without one: at 80
 * columns the rate and the mm:ss ETA are always there (the bar gives way first), the bytes are
 * those of the current image, and a wait (queued, reboot, reconnect) reads as one with a clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytePair, renderLiveLine, type ActivityView, type TransferView } from '../../../clients/cli/progressLine.js';
import { durationJson } from '../../../clients/cli/records.js';

const KINDS = ['softdevice_bootloader', 'softdevice', 'bootloader', 'application'] as const;

function transfer(over: Partial<TransferView> = {}): TransferView {
  return { kind: 'transfer', image: 1, imageCount: 2, imageKind: 'application', sent: 40_960, total: 99_000, rate: 19_900, etaMs: 75_000, ...over };
}

/** Sizes and rates across the units formatBytes switches between, and ETAs from none to over an hour. */
const CASES: TransferView[] = KINDS.flatMap((imageKind) =>
  [
    { sent: 0, total: 512 },
    { sent: 300, total: 172_032 },
    { sent: 172_032, total: 172_032 },
    { sent: 1_500_000, total: 3_000_000 },
  ].flatMap(({ sent, total }) =>
    [0, 665, 19_900, 1_048_000].flatMap((rate) =>
      [undefined, 0, 9_400, 754_000, 6_000_000].map((etaMs) => transfer({ imageKind, image: 3, imageCount: 3, sent, total, rate, etaMs })),
    ),
  ),
);

describe('the live progress line (rendered for a terminal width)', () => {
  it('at 80 columns every transfer line fits in 79 and shows image i/n, this image\'s bytes and percentage, the rate and ETA mm:ss', () => {
    for (const v of CASES) {
      const line = renderLiveLine(v, 80);
      assert.ok(line.length <= 79, `${line.length} columns: ${line}`);
      assert.ok(line.startsWith(`image ${v.image}/${v.imageCount} `), line);
      assert.ok(line.includes(formatBytePair(v.sent, v.total)), `image bytes missing: ${line}`);
      assert.ok(line.includes(`${Math.floor((v.sent / v.total) * 100)}%`), line);
      assert.match(line, /\d+(\.\d)? (B|KiB|MiB)\/s ETA (\d{2,}:\d\d|--:--)$/, line);
      assert.match(line, /\[[\u2588\u2591]{10,}\]/, `no bar: ${line}`);
    }
  });

  it('ETA is minutes:seconds, never bare seconds, and --:-- while unknown', () => {
    assert.match(renderLiveLine(transfer({ etaMs: 75_000 }), 80), / ETA 01:15$/);
    assert.match(renderLiveLine(transfer({ etaMs: 9_400 }), 80), / ETA 00:09$/);
    assert.match(renderLiveLine(transfer({ etaMs: 754_000 }), 80), / ETA 12:34$/);
    assert.match(renderLiveLine(transfer({ etaMs: undefined }), 80), / ETA --:--$/);
  });

  it('the bar keeps its width through an image (the numbers are padded, not the bar shrunk as they grow)', () => {
    const widths = new Set<number>();
    for (let sent = 0; sent <= 172_032; sent += 4_096) {
      const line = renderLiveLine(transfer({ imageKind: 'softdevice_bootloader', sent, total: 172_032, rate: 900 + sent / 10, etaMs: 9_000 }), 80);
      widths.add((/\[([^\]]*)\]/.exec(line)?.[1] ?? '').length);
      assert.ok(line.length <= 79, line);
    }
    assert.equal(widths.size, 1, `bar widths ${[...widths].join(', ')}`);
  });

  it('on a wide terminal the full image kind is kept; at 80 columns a long one is shortened rather than the numbers', () => {
    const v = transfer({ imageKind: 'softdevice_bootloader', sent: 100_000, total: 172_032, rate: 19_900 });
    assert.ok(renderLiveLine(v, 120).startsWith('image 1/2 softdevice_bootloader ['));
    const at80 = renderLiveLine(v, 80);
    assert.ok(at80.startsWith('image 1/2 sd+bl ['), at80);
    assert.ok(at80.endsWith('19.4 KiB/s ETA 01:15'), at80);
  });

  it('on narrow terminals the bar goes first, then the kind, then the bytes; percentage, rate and ETA stay', () => {
    const v = transfer({ imageKind: 'softdevice_bootloader', sent: 100_000, total: 172_032, rate: 19_900 });
    for (const columns of [60, 50, 40, 30]) {
      const line = renderLiveLine(v, columns);
      assert.ok(line.length < columns, `${columns}: ${line}`);
      assert.match(line, /58% .*19\.4 KiB\/s ETA 01:15$/, `${columns}: ${line}`);
    }
    assert.doesNotMatch(renderLiveLine(v, 50), /\[/);
  });

  it('an activity line shows its label, what it waits for and a running clock; a long step is cut with …, the clock stays', () => {
    const wait: ActivityView = { kind: 'activity', label: 'image 1/2', step: 'sent; waiting for the bootloader to restart for image 2/2', elapsedMs: 7_600, tick: 0 };
    assert.equal(renderLiveLine(wait, 80), '| image 1/2: sent; waiting for the bootloader to restart for image 2/2 00:08');
    const queued: ActivityView = { kind: 'activity', label: 'QUEUED', step: 'waiting for job 0b6f2f8e-6c1f-4a5c-9d55-2f2b3a5e4c11, which is updating the same device', elapsedMs: 65_000, tick: 1 };
    const line = renderLiveLine(queued, 80);
    assert.ok(line.length <= 79, line);
    assert.match(line, /^\/ QUEUED: waiting for job 0b6f.*… 01:05$/);
    // The spinner turns with the tick, so the line changes even when nothing else does.
    assert.notEqual(renderLiveLine({ ...wait, tick: 1 }, 80), renderLiveLine(wait, 80));
  });

  it('formats byte pairs compactly when both share a unit', () => {
    assert.equal(formatBytePair(40_960, 99_000), '40.0/96.7 KiB');
    assert.equal(formatBytePair(300, 172_032), '300 B/168.0 KiB');
    assert.equal(formatBytePair(512, 512), '512/512 B');
  });
});

describe('--json durations (protobuf JSON)', () => {
  it('are strings of seconds with 0, 3, 6 or 9 fractional digits and an s', () => {
    assert.equal(durationJson({ seconds: 1, nanos: 240_000_000 }), '1.240s');
    assert.equal(durationJson({ seconds: 3, nanos: 0 }), '3s');
    assert.equal(durationJson({ seconds: 0, nanos: 0 }), '0s');
    assert.equal(durationJson({ seconds: 0, nanos: 500_000 }), '0.000500s');
    assert.equal(durationJson({ seconds: 21, nanos: 721_466_553 }), '21.721466553s');
    assert.equal(durationJson({ seconds: 0, nanos: -500_000_000 }), '-0.500s');
  });
});
