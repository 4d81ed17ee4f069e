/**
 * `npm run bench`, the CLI's start-up: what one `bledfu` call costs before it does any work, as
 * a user (or a station script calling it per device) pays it. Runs `bledfu --help` and
 * `bledfu pkg display <the demo package>` through bin/bledfu.js, compiled (dist/, what the
 * launcher runs) and from the TypeScript sources through tsx (BLEDFU_RUN_FROM_SOURCE=1, what
 * every call cost before the launchers ran dist/; tsx's cache warm, as after the first call).
 * Prints wall and CPU time (user + system, less sensitive to a busy machine) and peak RSS per
 * call; asserts nothing. Needs a current build (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectZip } from '../helpers/project-packages.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const CLI = fileURLToPath(new URL('../../bin/bledfu.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'bledfu-bench-cli-'));
const zip = join(dir, 'app.zip');
writeFileSync(zip, await projectZip('app'));

interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly rssMb: number;
}

/**
 * Reports the process's own CPU time and peak RSS as it exits (preloaded with --import, so it
 * sees the whole call, launcher included), on stderr after a marker.
 */
const REPORT = `data:text/javascript,${encodeURIComponent(
  "import { writeSync } from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); writeSync(2, `\\nBENCH ${JSON.stringify({ cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, rssMb: u.maxRSS / 1024 })}\\n`); });",
)}`;

function call(args: readonly string[], fromSource: boolean): Sample {
  const { BLEDFU_RUN_FROM_SOURCE: _ignored, ...env } = process.env;
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', REPORT, CLI, ...args], { env: fromSource ? { ...env, BLEDFU_RUN_FROM_SOURCE: '1' } : env, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const report = /\nBENCH (\{.*\})\n/.exec(r.stderr)?.[1];
  if (r.status !== 0 || report === undefined) throw new Error(`bledfu ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const { cpuMs, rssMb } = JSON.parse(report) as { cpuMs: number; rssMb: number };
  return { wallMs, cpuMs, rssMb };
}

function measure(args: readonly string[], fromSource: boolean): Sample[] {
  call(args, fromSource); // warms the file cache (and tsx's compile cache)
  return Array.from({ length: RUNS }, () => call(args, fromSource));
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;

try {
  console.log(`\nbledfu CLI start-up (median of ${RUNS} calls each; BENCH_RUNS to change)`);
  for (const [label, args] of [
    ['bledfu --help', ['--help']],
    ['bledfu pkg display app.zip', ['pkg', 'display', zip]],
  ] as const) {
    for (const fromSource of [false, true]) {
      const s = measure(args, fromSource);
      console.log(
        `  ${label.padEnd(27)} ${fromSource ? 'sources via tsx' : 'compiled (dist)'}: wall ${median(s.map((x) => x.wallMs)).toFixed(0)} ms, ` +
          `CPU ${median(s.map((x) => x.cpuMs)).toFixed(0)} ms, peak RSS ${median(s.map((x) => x.rssMb)).toFixed(0)} MB`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
