/**
 * The round trip a user makes without nrfutil: `bledfu keys generate`, `bledfu pkg generate` for
 * each package kind from the project's own firmware hex images, `bledfu pkg display`, then
 * `bledfu dfu` through a real server (gRPC) to a simulated device whose bootloaders trust the
 * generated key (`sim:?keyfile=`), and what the device then runs. All commands are the CLI, run
 * in this process; the server runs on the accelerated simulator.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPackage } from '../../clients/ts/index.js';
import { demoApplication, demoBootloader, demoSoftDevice } from '../../server/sim/demoFirmware.js';
import { parseSimSpec } from '../../server/sim/world.js';
import { cliInProcess as cli } from '../helpers/cli-in-process.js';
import { runCli as spawnCli } from '../helpers/run-process.js';
import { revisionOf, startSimServer, type SimServer } from '../helpers/sim-server.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Small images keep the five updates quick; the SoftDevice keeps the installed one's FWID (0x0100). */
const APP = { size: 12 * 1024, seed: 0x5eed };
const APP2 = { size: 10 * 1024, seed: 0x5eee };
const BL = { size: 8 * 1024, seed: 0xb1 };
const SD = { size: 16 * 1024, seed: 0x5d };
const FWID = '0x0100';

describe('round trip: bledfu keys + pkg generate/display, then a DFU through the server to a simulator trusting the key', () => {
  let dir: string;
  let server: SimServer;
  const file = (name: string): string => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-roundtrip-'));
    const keys = await cli(['keys', 'generate', file('station.pem')]);
    assert.equal(keys.code, 0, keys.stderr);
    await writeFile(file('app.hex'), demoApplication(APP).hex);
    await writeFile(file('app2.hex'), demoApplication(APP2).hex);
    await writeFile(file('bootloader.hex'), demoBootloader(BL).hex);
    await writeFile(file('softdevice.hex'), demoSoftDevice(SD).hex);
    // As bledfud --adapters 'sim:?keyfile=…' would: the private key file, its public half trusted.
    server = await startSimServer(parseSimSpec(`sim:?keyfile=${file('station.pem')}`));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Generates, displays (text and --json) and sends one package; returns the job's finished record. */
  async function roundTrip(zip: string, options: readonly string[], kinds: readonly string[]): Promise<Record<string, unknown>> {
    const generated = await cli(['pkg', 'generate', file(zip), ...options, '--hw-version', '52', '--key-file', file('station.pem')]);
    assert.equal(generated.code, 0, generated.stderr);
    assert.match(generated.stdout, new RegExp(`^wrote .*${zip}`, 'm'));

    const shown = await cli(['--json', 'pkg', 'display', file(zip)]);
    assert.equal(shown.code, 0, shown.stdout);
    const images = shown.records[0]?.['images'] as { kind: string; signed: boolean; hwVersion: number }[];
    assert.deepEqual(images.map((i) => i.kind), kinds, `${zip} holds ${kinds.join(' + ')}`);
    assert.ok(images.every((i) => i.signed && i.hwVersion === 52));
    const text = await cli(['pkg', 'display', file(zip)]);
    for (const kind of kinds) assert.match(text.stdout, new RegExp(kind), `pkg display names the ${kind} image`);

    const dfu = await cli(['--server', server.address, '--json', 'dfu', file(zip), '--address', server.device().address.value]);
    assert.equal(dfu.code, 0, `${zip}: ${dfu.stdout}${dfu.stderr}`);
    const finished = dfu.records.at(-1);
    assert.equal(finished?.['type'], 'finished');
    assert.equal(finished?.['success'], true);
    return finished as Record<string, unknown>;
  }

  /** The bytes of image `kind` in the package, as the device must now hold them. */
  async function imageOf(zip: string, kind: string): Promise<Uint8Array> {
    const pkg = await readPackage(await readFile(file(zip)));
    const image = pkg.images.find((i) => i.summary.kind === kind);
    assert.ok(image !== undefined, `${zip} has a ${kind} image`);
    return image.bin;
  }

  it('an application package: the device runs the new application, named in the job result', async () => {
    const finished = await roundTrip('app.zip', ['--application', file('app.hex'), '--application-version', '7', '--sd-req', FWID], ['application']);
    const bin = await imageOf('app.zip', 'application');
    const revision = revisionOf(7, sha256(bin));
    assert.equal((finished['result'] as { firmwareRevision?: string }).firmwareRevision, revision);
    assert.equal(server.device().firmwareRevision(), revision);
    assert.equal(server.device().images().appVersion, 7);
    assert.equal(server.device().images().application?.sha256, sha256(bin));
  });

  it('a bootloader package: the device holds the new bootloader and its version', async () => {
    await roundTrip('bl.zip', ['--bootloader', file('bootloader.hex'), '--bootloader-version', '5', '--sd-req', FWID], ['bootloader']);
    const images = server.device().images();
    assert.equal(images.bootloaderVersion, 5);
    assert.equal(images.bootloader?.sha256, sha256(await imageOf('bl.zip', 'bootloader')));
  });

  it('a SoftDevice package: the device holds the new SoftDevice', async () => {
    await roundTrip('sd.zip', ['--softdevice', file('softdevice.hex'), '--sd-req', FWID], ['softdevice']);
    const images = server.device().images();
    assert.equal(images.softDevice?.sha256, sha256(await imageOf('sd.zip', 'softdevice')));
    assert.equal(images.softDeviceFwid, 0x0100);
  });

  it('a SoftDevice + bootloader package', async () => {
    await roundTrip('sdbl.zip', ['--softdevice', file('softdevice.hex'), '--bootloader', file('bootloader.hex'), '--bootloader-version', '6', '--sd-req', FWID], [
      'softdevice_bootloader',
    ]);
    const images = server.device().images();
    assert.equal(images.bootloaderVersion, 6);
    const sdbl = await imageOf('sdbl.zip', 'softdevice_bootloader');
    assert.equal(images.softDevice?.sha256, sha256(sdbl.subarray(0, images.softDevice?.size ?? 0)));
    assert.equal(images.bootloader?.sha256, sha256(sdbl.subarray(images.softDevice?.size ?? 0)));
  });

  it('a SoftDevice + bootloader + application package: the device ends on the new application', async () => {
    const finished = await roundTrip(
      'all.zip',
      [
        '--softdevice', file('softdevice.hex'),
        '--bootloader', file('bootloader.hex'), '--bootloader-version', '7',
        '--application', file('app2.hex'), '--application-version', '8',
        '--sd-req', FWID, '--sd-id', FWID,
      ],
      ['softdevice_bootloader', 'application'],
    );
    const revision = revisionOf(8, sha256(await imageOf('all.zip', 'application')));
    assert.equal((finished['result'] as { firmwareRevision?: string }).firmwareRevision, revision);
    assert.equal(server.device().firmwareRevision(), revision);
    assert.equal(server.device().images().bootloaderVersion, 7);
  });

  it('a package signed with another key is refused by the device (the simulator trusts only the key file)', async () => {
    const other = await cli(['keys', 'generate', file('other.pem')]);
    assert.equal(other.code, 0);
    const made = await cli(['pkg', 'generate', file('foreign.zip'), '--application', file('app.hex'), '--application-version', '9', '--hw-version', '52', '--sd-req', FWID, '--key-file', file('other.pem')]);
    assert.equal(made.code, 0, made.stderr);
    const dfu = await cli(['--server', server.address, '--json', 'dfu', file('foreign.zip'), '--address', server.device().address.value]);
    assert.equal(dfu.code, 4, dfu.stdout);
    assert.equal(dfu.records.at(-1)?.['code'], 'DFU_REMOTE_ERROR');
    assert.equal(server.device().images().appVersion, 8, 'the device keeps what it had');
  });
});

describe('the installed bledfu (spawned) writes package and key files on the real file system', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bledfu-spawned-'));
    await writeFile(join(dir, 'app.hex'), demoApplication(APP).hex);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keys generate creates a 0600 key and refuses the second time; pkg generate writes nothing without its key, then the zip', async () => {
    const key = join(dir, 'k.pem');
    const env = { BLEDFU_SERVER: '' };
    const made = await spawnCli(['--json', 'keys', 'generate', key], { env });
    assert.equal(made.code, 0, made.stderr);
    const pem = await readFile(key, 'utf8');
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    const again = await spawnCli(['--json', 'keys', 'generate', key], { env });
    assert.equal(again.code, 2);
    assert.match(String(again.records.at(-1)?.['message']), /exists/);
    assert.equal(await readFile(key, 'utf8'), pem);

    const args = ['pkg', 'generate', join(dir, 'app.zip'), '--application', join(dir, 'app.hex'), '--application-version', '1', '--hw-version', '52', '--sd-req', '0x0100'];
    const noKey = await spawnCli(['--json', ...args, '--key-file', join(dir, 'missing.pem')], { env });
    assert.equal(noKey.code, 2);
    assert.match(String(noKey.records.at(-1)?.['remedy']), /bledfu keys generate/);
    assert.deepEqual((await readdir(dir)).sort(), ['app.hex', 'k.pem']);
    const ok = await spawnCli(['--json', ...args, '--key-file', key], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.records.at(-1)?.['type'], 'package');
    assert.deepEqual((await readdir(dir)).sort(), ['app.hex', 'app.zip', 'k.pem']);
  });
});
