/**
 * The bledfud process refuses a malformed adapter spec at startup (exit 2, one line naming the
 * spec and what to write), instead of starting with an adapter that can never open.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const BLEDFUD = fileURLToPath(new URL('../../bin/bledfud.js', import.meta.url));

describe('bledfud startup', () => {
  it('exits 2 with a clear message for a malformed hci: spec, before opening anything', () => {
    const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--log-level', 'silent', '--adapters', 'sim:,hci:/dev/ttyACM0?baud=fast'], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.status, 2, `stderr: ${r.stderr}`);
    assert.match(r.stderr, /^bledfud: bad adapter spec "hci:\/dev\/ttyACM0\?baud=fast": baud must be a positive integer/m);
    assert.match(r.stderr, /write it as hci:/);
  });

  it('exits 2 for an accelerated simulator beside a real dongle, saying to pace it (speed=1)', () => {
    const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--log-level', 'silent', '--adapters', 'sim:,hci:/dev/ttyACM0'], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.status, 2, `stderr: ${r.stderr}`);
    assert.match(r.stderr, /^bledfud: an accelerated simulator .* cannot share a server with real dongles \(hci:\/dev\/ttyACM0\)/m);
    assert.match(r.stderr, /add speed=1 to its spec/);
  });

  it('exits 2 for a malformed nrf: or auto: spec too', () => {
    for (const [spec, why] of [
      ['nrf:/dev/ttyACM0?api=7', /^bledfud: bad adapter spec "nrf:\/dev\/ttyACM0\?api=7": api must be auto, 5 or 6/m],
      ['auto:/dev/ttyACM0?flow=on', /^bledfud: bad adapter spec "auto:\/dev\/ttyACM0\?flow=on": unknown parameter "flow"/m],
    ] as const) {
      const r = spawnSync(process.execPath, [BLEDFUD, '--listen', '127.0.0.1:0', '--log-level', 'silent', '--adapters', `sim:,${spec}`], {
        encoding: 'utf8',
        timeout: 20_000,
        killSignal: 'SIGKILL',
      });
      assert.equal(r.status, 2, `stderr: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
  });
});
