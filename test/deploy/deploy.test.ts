/**
 * The deployment files, checked as far as a machine without a Docker engine or systemd as PID 1
 * allows: the Dockerfile's structure (parsed with dockerfile-ast), the compose file through
 * docker-compose's own validation, the systemd unit through `systemd-analyze verify`, and the
 * udev rules through udev's own rule parser (`udevadm test` in a private mount namespace, so
 * the machine's rules are not touched). Building and running the image's stages without Docker
 * is scripts/container-replay.mjs (run by .ci/run).
 *
 * A missing tool skips its test on a developer machine and fails under CI (.ci/run installs
 * docker-compose, systemd and udev).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { hasCode } from '../../server/common/errors.js';
import { loadConfig } from '../../server/config/load.js';
import type { Config } from '../../server/config/settings.js';
import { loadServerSecurity } from '../../server/rpc/security.js';
import { knownUsbDevice } from '../../server/transport/knownUsbDevices.js';
import { healthcheckCommand, instructionsOf, readDockerfile } from '../helpers/dockerfile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const at = (...parts: string[]): string => join(ROOT, ...parts);

/** undefined when `command` runs; else why not. Under CI a missing tool is a broken setup. */
function tool(command: string, args: readonly string[], debianPackage: string): string | false {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return false;
  const why = `${command} is not available (Debian: apt-get install ${debianPackage})`;
  if (process.env['CI']) throw new Error(`${why}; .ci/run should have installed it`);
  return why;
}

describe('Dockerfile', () => {
  const stages = readDockerfile(at('Dockerfile'));
  const final = stages.at(-1);
  const build = stages.find((s) => s.name === 'build');

  it('has a build stage and a final stage based on the same Node image', () => {
    assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
    assert.ok(build !== undefined && final !== undefined && build !== final, 'a stage named build, then the final one');
    assert.equal(final.base, build.base, 'the native serialport binding is built against the runtime it runs on');
    assert.match(final.base, /^node:20[-.]/);
  });

  it('runs as the fixed non-root user 10001 in group 20 (dialout), created in the final stage', () => {
    assert.ok(final !== undefined);
    const user = instructionsOf(final, 'USER').at(-1);
    assert.ok(user !== undefined, 'the final stage sets USER');
    assert.equal(user.text, '10001:20');
    const useradd = instructionsOf(final, 'RUN')
      .map((r) => /useradd\s[^&;]*/.exec(r.text)?.[0])
      .find((c) => c !== undefined);
    assert.ok(useradd !== undefined, 'the final stage creates the user');
    assert.match(useradd, /--uid 10001\b/);
    assert.match(useradd, /--gid dialout\b/);
    // Debian's dialout is GID 20: the numeric USER and the named group must agree.
    assert.match(readFileSync('/etc/group', 'utf8'), /^dialout:x:20:/m, 'this Debian machine has dialout = 20 like the image');
  });

  it('keeps build tools out of the final image', () => {
    assert.ok(build !== undefined && final !== undefined);
    // The final stage copies the build stage's node_modules as it is, so the prune must come
    // after the last install and before the copy.
    const buildRuns = instructionsOf(build, 'RUN').map((r) => r.text);
    const pruneAt = buildRuns.findIndex((t) => /npm prune --omit=dev\b/.test(t));
    assert.ok(pruneAt >= 0, 'the build stage prunes dev dependencies');
    assert.ok(!buildRuns.slice(pruneAt + 1).some((t) => /\bnpm (ci|install|i)\b/.test(t)), 'nothing is installed after the prune');
    const finalRuns = instructionsOf(final, 'RUN');
    for (const run of finalRuns) {
      assert.doesNotMatch(run.text, /(^|&&|;|\|)\s*(npm|npx|yarn|pnpm|apt-get|apt|apk)\s/, `line ${run.line} installs something into the final image`);
    }
    // The base image's package managers go too (npm lives in /usr/local/lib/node_modules).
    assert.ok(finalRuns.some((r) => /rm -rf [^&;]*\/usr\/local\/lib\/node_modules\b/.test(r.text)), 'npm is removed from the final image');
    const copies = instructionsOf(final, 'COPY');
    assert.ok(copies.length > 0);
    for (const c of copies) assert.equal(c.flags['from'], 'build', `line ${c.line}: the final stage copies only from the build stage`);
    const copied = copies.map((c) => c.args[0]);
    assert.deepEqual(copied.sort(), ['/app/dist', '/app/node_modules', '/app/package.json'], 'no sources, tests or toolchain configs');
  });

  it('starts the compiled server and checks health with the compiled CLI, at the paths tsconfig.build.json produces', () => {
    assert.ok(final !== undefined);
    const tsconfig = JSON.parse(readFileSync(at('tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    assert.equal(tsconfig.compilerOptions.rootDir, '.');
    const out = tsconfig.compilerOptions.outDir.replace(/^\.\//, '');
    const compiled = (source: string): string => `${out}/${source.replace(/\.ts$/, '.js')}`;
    assert.ok(existsSync(at('server/main.ts')) && existsSync(at('clients/cli/main.ts')));

    const entrypoint = instructionsOf(final, 'ENTRYPOINT').at(-1);
    assert.deepEqual(entrypoint?.args, ['node', compiled('server/main.ts')]);

    const healthchecks = instructionsOf(final, 'HEALTHCHECK');
    assert.equal(healthchecks.length, 1);
    const hc = healthchecks[0];
    assert.ok(hc !== undefined);
    for (const flag of ['interval', 'timeout', 'start-period', 'retries']) assert.ok(hc.flags[flag] !== undefined, `HEALTHCHECK --${flag}`);
    const command = healthcheckCommand(hc);
    assert.ok('shell' in command, 'shell form, for `|| exit 1`');
    assert.match(command.shell, new RegExp(`^node ${compiled('clients/cli/main.ts').replace(/\./g, '\\.')} health\\b`));
    // Docker defines 0 (healthy) and 1 (unhealthy) only; the CLI's own codes go up to 7.
    assert.match(command.shell, /\|\| exit 1$/);
    const timeout = /--timeout (\d+)(?:\s|$)/.exec(command.shell)?.[1];
    assert.ok(timeout !== undefined && Number(timeout) < Number.parseInt(hc.flags['timeout'] ?? '0', 10), "the CLI's deadline ends before Docker's");
  });

  /** The server's config under the image's ENV with `args` after the image name (CMD when none). */
  function imageConfig(args?: readonly string[]): Config {
    assert.ok(final !== undefined);
    const env = Object.fromEntries(instructionsOf(final, 'ENV').flatMap((e) => e.args.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])));
    const argv = args ?? instructionsOf(final, 'CMD').at(-1)?.args ?? [];
    const loaded = loadConfig({ argv, env, readFile: () => assert.fail('no config file') });
    assert.equal(loaded.kind, 'config');
    return (loaded as { config: Config }).config;
  }

  it('listens on 50051 with metrics on 9464, both exposed', () => {
    assert.ok(final !== undefined);
    const exposed = instructionsOf(final, 'EXPOSE').flatMap((e) => e.args);
    assert.deepEqual(exposed.sort(), ['50051', '9464']);
    const config = imageConfig();
    assert.equal(config.listen, '0.0.0.0:50051');
    assert.equal(config.metricsListen, '0.0.0.0:9464');
    // Set by ENV, so that arguments after the image name (which replace CMD) keep them.
    assert.equal(imageConfig(['--adapters', 'sim:']).listen, '0.0.0.0:50051');
  });

  it('refuses to serve by default without TLS or tokens, saying how; the simulator demo is one flag; a tokens file serves', () => {
    const noFiles = (path: string): Buffer => assert.fail(`unexpected read of ${path}`);
    const config = imageConfig();
    assert.equal(config.insecure, false, 'the default command does not disable the loopback safeguard');
    assert.throws(
      () => loadServerSecurity(config, noFiles),
      (e: unknown) =>
        hasCode(e, 'INVALID_ARGUMENT') &&
        /refusing to listen on 0\.0\.0\.0:50051 without TLS or token auth/.test(e.message) &&
        /--tokens-file/.test(e.remedy ?? '') &&
        /--tls-cert/.test(e.remedy ?? '') &&
        /--insecure/.test(e.remedy ?? ''),
    );
    // The demo the docs give: `docker run --rm -p 127.0.0.1:50051:50051 bledfu --insecure`.
    const docs = readFileSync(at('docs/deploy.md'), 'utf8') + readFileSync(at('README.md'), 'utf8');
    assert.match(docs, /docker run --rm -p 127\.0\.0\.1:50051:50051 bledfu --insecure\n/);
    const demo = loadServerSecurity(imageConfig(['--insecure']), noFiles);
    assert.equal(demo.exposedInsecurely, true);
    const tokens = `operate ${randomBytes(32).toString('hex')} station\n`;
    const withTokens = loadServerSecurity(imageConfig(['--tokens-file', '/etc/bledfu/tokens']), (p) => (p === '/etc/bledfu/tokens' ? Buffer.from(tokens) : noFiles(p)));
    assert.equal(withTokens.exposedInsecurely, false);
    assert.equal(withTokens.tokens?.size, 1);
  });

  it('copies into the build stage only files that exist and that .dockerignore lets through', () => {
    assert.ok(build !== undefined);
    const ignored = readFileSync(at('.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.bledfu', 'proto/gen', '.git']) assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
    for (const copy of instructionsOf(build, 'COPY')) {
      for (const source of copy.args.slice(0, -1)) {
        assert.ok(existsSync(at(source)), `line ${copy.line}: ${source} exists`);
        assert.ok(!ignored.includes(source), `line ${copy.line}: ${source} is not ignored`);
      }
    }
  });
});

describe('compose example (deploy/compose/compose.yaml)', () => {
  const file = at('deploy/compose/compose.yaml');
  const text = readFileSync(file, 'utf8');
  const skip = tool('docker-compose', ['version'], 'docker-compose');

  it('is valid for docker-compose, in both profiles', { skip }, () => {
    for (const profile of ['dongle', 'sim']) {
      const r = spawnSync('docker-compose', ['-f', file, '--profile', profile, 'config', '-q'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `profile ${profile}: ${r.stderr}`);
    }
    // Proof that the validation can fail: a command entry YAML reads as a mapping.
    const dir = mkdtempSync(join(tmpdir(), 'bledfu-compose-'));
    try {
      writeFileSync(join(dir, 'compose.yaml'), text.replace('"--adapters=sim:"', '--adapters=sim:'));
      const bad = spawnSync('docker-compose', ['-f', join(dir, 'compose.yaml'), 'config', '-q'], { encoding: 'utf8' });
      assert.notEqual(bad.status, 0, 'an invalid file is refused');
      assert.match(bad.stderr, /invalid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes the dongle in under the name the adapter spec uses and publishes on loopback only', () => {
    const device = /^\s+- (\/dev\/serial\/by-id\/[^:\s]+):(\/dev\/\S+)$/m.exec(text);
    assert.ok(device !== null, 'a devices: entry from /dev/serial/by-id');
    assert.match(device[1] ?? '', /REPLACE-WITH-YOUR-DONGLE/, 'an obvious placeholder');
    assert.ok(text.includes(`--adapters=auto:${device[2] ?? ''}`));
    const published = [...text.matchAll(/^\s+- "([^"]*:\d+:\d+)"$/gm)].map((m) => m[1] ?? '');
    assert.ok(published.length >= 2);
    for (const p of published) assert.match(p, /^127\.0\.0\.1:/, `${p} is published on loopback`);
    assert.match(text, /restart: unless-stopped/);
    assert.match(text, /bledfu-data:\/var\/lib\/bledfu/);
    assert.doesNotMatch(text, /healthcheck:/, 'the image\'s HEALTHCHECK applies');
  });
});

describe('systemd unit (deploy/systemd/bledfud.service)', () => {
  const unit = at('deploy/systemd/bledfud.service');
  const skip = tool('systemd-analyze', ['--version'], 'systemd');

  /** Output of `systemd-analyze verify` for a copy of the unit; node where this machine has it. */
  function verify(text: string): { status: number | null; output: string } {
    const dir = mkdtempSync(join(tmpdir(), 'bledfu-unit-'));
    try {
      // The unit runs /usr/bin/node (Debian's and NodeSource's packages); verify checks that the
      // executable exists, so point a copy at this machine's node when it lives elsewhere.
      const node = existsSync('/usr/bin/node') ? text : text.replace('/usr/bin/node', process.execPath);
      writeFileSync(join(dir, 'bledfud.service'), node);
      const r = spawnSync('systemd-analyze', ['verify', join(dir, 'bledfud.service')], { encoding: 'utf8' });
      return { status: r.status, output: `${r.stdout}${r.stderr}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('passes systemd-analyze verify without a warning', { skip }, () => {
    const r = verify(readFileSync(unit, 'utf8'));
    assert.equal(r.status, 0, r.output);
    // verify exits 0 on unknown keys and bad values; it only warns, naming the file.
    assert.doesNotMatch(r.output, /bledfud\.service/, r.output);
    const broken = verify(readFileSync(unit, 'utf8').replace('ProtectHome=yes', 'ProtectHome=maybe'));
    assert.match(broken.output, /bledfud\.service:\d+: Failed to parse/, 'a bad value is reported');
  });

  it('has the hardening and the settings the docs describe', () => {
    const text = readFileSync(unit, 'utf8');
    for (const line of [
      'User=bledfu',
      'SupplementaryGroups=dialout',
      'StateDirectory=bledfu',
      'EnvironmentFile=-/etc/default/bledfud',
      'ExecStart=/usr/bin/node /opt/bledfu/dist/server/main.js',
      'Restart=on-failure',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'DevicePolicy=closed',
      'DeviceAllow=char-ttyACM rw',
      'DeviceAllow=char-ttyUSB rw',
    ]) {
      assert.ok(text.split('\n').includes(line), line);
    }
    // V8 compiles to executable memory: MemoryDenyWriteExecute would kill node at start.
    assert.doesNotMatch(text, /^MemoryDenyWriteExecute=yes/m);
    // Every variable the sample /etc/default/bledfud sets or mentions is one bledfud reads.
    const help = spawnSync(process.execPath, [at('bin/bledfud.js'), '--help'], { encoding: 'utf8' }).stdout;
    const defaults = readFileSync(at('deploy/systemd/bledfud.default'), 'utf8');
    const names = [...defaults.matchAll(/^#?(BLEDFU_[A-Z_]+)=/gm)].map((m) => m[1] ?? '');
    assert.ok(names.length >= 3);
    for (const name of names) {
      if (name === 'BLEDFU_METRICS_LISTEN' && !help.includes(name)) continue; // the metrics feature lands separately
      assert.ok(new RegExp(`\\s${name}\\s`).test(help), `${name} is listed by bledfud --help`);
    }
  });
});

describe('udev rules (deploy/udev/99-bledfu.rules)', () => {
  const rules = at('deploy/udev/99-bledfu.rules');
  const skip =
    tool('udevadm', ['--version'], 'udev') ||
    tool('unshare', ['--mount', '--propagation', 'private', 'true'], 'util-linux (and root, for a private mount namespace)');

  /** udev's log of reading `files` as the only local rules, against some tty of this machine. */
  function udevRead(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'bledfu-udev-'));
    try {
      for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
      const tty = readdirSync('/sys/class/tty')[0];
      assert.ok(tty !== undefined, 'a tty in /sys/class/tty to run the rules against');
      // /etc/udev/rules.d is replaced by `dir` in a private mount namespace: nothing outside
      // this command sees it. udevadm test reads every rules file, reports syntax errors by file
      // and line, and applies the rules to the device without changing anything.
      const r = spawnSync(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/udev/rules.d && udevadm test --action=add "$1"', dir, `/sys/class/tty/${tty}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.error, undefined);
      return `${r.stdout}${r.stderr}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("parse cleanly with udev's own parser", { skip }, () => {
    const log = udevRead({ '99-bledfu.rules': readFileSync(rules, 'utf8'), '98-broken.rules': 'SUBSYSTEM="tty", GROUP=="x"\nNOTAKEY=="1"\n' });
    assert.match(log, /Reading rules file: \/etc\/udev\/rules\.d\/99-bledfu\.rules/, log);
    // The control file proves errors are reported (so their absence below means something).
    assert.match(log, /98-broken\.rules:1 /);
    assert.match(log, /98-broken\.rules:2 /);
    const complaints = log.split('\n').filter((l) => l.includes('99-bledfu.rules:'));
    assert.deepEqual(complaints, []);
  });

  it('match only USB vendors bledfu recognises, and set group, mode, ModemManager ignore and a symlink', () => {
    const text = readFileSync(rules, 'utf8');
    const vendors = [...new Set([...text.matchAll(/ATTRS\{idVendor\}=="([0-9a-f]{4})"/g)].map((m) => m[1] ?? ''))];
    assert.deepEqual(vendors.sort(), ['0d28', '1366', '1915', '2fe3']);
    for (const v of vendors) assert.ok(knownUsbDevice(v, undefined) !== undefined, `${v} is in knownUsbDevices.ts`);
    assert.match(text, /GROUP="dialout", MODE="0660", ENV\{ID_MM_DEVICE_IGNORE\}="1"/);
    assert.match(text, /SYMLINK\+="bledfu\//);
  });
});
