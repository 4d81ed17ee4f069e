/**
 * `bledfu dfu` on a terminal (a fake one, 80 columns) against the whole server on the
 * accelerated simulator: a job that waits for a slot shows QUEUED, a two-image update shows each
 * image's bar and, between the images, what the job waits for; the live line is never wider
 * than the terminal.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readLocalFile, writeLocalFile } from '../../clients/cli/files.js';
import { runCli } from '../../clients/cli/program.js';
import { startDfu } from '../../clients/ts/index.js';
import { projectZip } from '../helpers/project-packages.js';
import { addressTarget, drain, finished, startSimServer } from '../helpers/sim-server.js';

/** Runs the CLI in this process with stdout a terminal of `columns`; returns what it wrote. */
async function onTerminal(argv: readonly string[], columns: number): Promise<{ code: number; written: string; stderr: string }> {
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns });
  const stderr = new PassThrough();
  let written = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (written += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli(argv, {
    io: { stdout, stderr },
    env: { BLEDFU_SERVER: '' },
    readFile: readLocalFile,
    writeFile: writeLocalFile,
    interrupted: new AbortController().signal,
    forced: new AbortController().signal,
  });
  return { code, written, stderr: err };
}

/** Every line as drawn: each \r-redraw of the live line and each line of history, control codes removed. */
function drawn(written: string): string[] {
  return written
    .split(/\r|\n/)
    .map((l) => l.replace(/\x1b\[K/g, ''))
    .filter((l) => l !== '');
}

describe('bledfu dfu on an 80-column terminal (simulator)', () => {
  it('QUEUED while the only slot is taken, then per-image bars and a line of activity between the images', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bledfu-cli-progress-'));
    const s = await startSimServer({ devices: [{}, {}] }, { maxConcurrentDfus: 1 });
    try {
      const zip = await projectZip('sd-bl-app');
      const file = join(dir, 'sd-bl-app.zip');
      await writeFile(file, zip);
      // Job A takes the adapter's one slot; the CLI's job waits behind it.
      const a = drain(startDfu(s.client, { package: { data: zip }, target: addressTarget(s.device(0).address.value) }));
      const run = await onTerminal(['--server', s.address, 'dfu', file, '--address', s.device(1).address.value], 80);
      assert.equal(finished((await a).events)?.result.success, true);
      assert.equal(run.code, 0, run.stderr);

      const lines = drawn(run.written);
      // The live line is redrawn in place, so it must never wrap (history lines above it may).
      const live = [...run.written.matchAll(/\r([^\r\n\x1b]+)\x1b\[K/g)].map((m) => m[1] as string);
      assert.ok(live.length > 20, `${live.length} live lines`);
      for (const line of live) assert.ok(line.length <= 79, `${line.length} columns: ${line}`);
      assert.ok(lines.some((l) => /^. QUEUED: waiting for a free slot on adapter sim0 \d\d:\d\d$/.test(l)), lines.slice(0, 5).join('\n'));
      for (const image of ['1/2 sd\\+bl', '2/2 application']) {
        assert.ok(
          lines.some((l) => new RegExp(`^image ${image} \\[[\u2588\u2591]+\\] +\\d+% +[\\d.]+/[\\d.]+ KiB +[\\d.]+ (B|KiB)/s ETA \\d\\d:\\d\\d$`).test(l)),
          `no bar of image ${image}`,
        );
      }
      assert.ok(lines.includes('image 1/2 softdevice_bootloader: 168.0 KiB sent'));
      assert.ok(lines.some((l) => /^. image 1\/2: sent; waiting for the bootloader to restart for image 2\/2 \d\d:\d\d$/.test(l)));
      assert.ok(lines.some((l) => /^done in \d\d:\d\d, application running/.test(l)));
      // The bar is never shown for the queued time (no bytes were moving).
      const queuedAt = lines.findIndex((l) => l.includes('QUEUED'));
      const firstBar = lines.findIndex((l) => l.startsWith('image 1/2 sd+bl ['));
      assert.ok(queuedAt >= 0 && firstBar > queuedAt);
    } finally {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
