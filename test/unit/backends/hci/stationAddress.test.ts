import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dongleKey, FileStationAddressStore, generateStaticRandomAddress, isStaticRandom } from '../../../../server/backends/hci/stationAddress.js';
import { silentLogger } from '../../../../server/common/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'bledfu-station-address-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('static random station addresses', () => {
  it('sets the two most significant bits to 11, whatever the random bytes', () => {
    const made = generateStaticRandomAddress(() => Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0x0b));
    assert.equal(made, 'CB:9A:78:56:34:12');
    assert.ok(isStaticRandom(made));
  });

  it('never makes the forbidden all-zero or all-one random parts', () => {
    const draws = [new Uint8Array(6), new Uint8Array(6).fill(0xff), Uint8Array.of(1, 0, 0, 0, 0, 0)];
    const made = generateStaticRandomAddress(() => draws.shift() ?? new Uint8Array(6));
    assert.equal(made, 'C0:00:00:00:00:01');
  });

  it('keeps addresses per dongle in a file that a new store reads back; a damaged file is ignored', () => {
    const path = join(dir, 'addresses.json');
    const store = new FileStationAddressStore(path, silentLogger());
    store.put('hci:/dev/serial/by-id/usb-ZEPHYR-a', 'C1:02:03:04:05:06');
    store.put('hci:/dev/serial/by-id/usb-ZEPHYR-b', 'D1:02:03:04:05:07');
    const again = new FileStationAddressStore(path, silentLogger());
    assert.equal(again.get('hci:/dev/serial/by-id/usb-ZEPHYR-a'), 'C1:02:03:04:05:06');
    assert.equal(again.get('hci:/dev/serial/by-id/usb-ZEPHYR-b'), 'D1:02:03:04:05:07');
    assert.equal(again.get('hci:/dev/ttyACM0'), undefined);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).version, 1);

    writeFileSync(path, '{"version":1,"addresses":{"x":"00:00:00:00:00:00","y":"C1:02:03:04:05:06"');
    const damaged = new FileStationAddressStore(path, silentLogger());
    assert.equal(damaged.get('y'), undefined);
    writeFileSync(path, '{"version":1,"addresses":{"x":"00:00:00:00:00:00","y":"C1:02:03:04:05:06"}}');
    const filtered = new FileStationAddressStore(path, silentLogger());
    assert.equal(filtered.get('x'), undefined, 'an address that is not static random is never used');
    assert.equal(filtered.get('y'), 'C1:02:03:04:05:06');
  });

  it('keys a dongle by its port, the same whether opened as hci: or auto: and whatever its options', () => {
    const port = '/dev/serial/by-id/usb-ZEPHYR_Zephyr_HCI_UART_sample_1234-if00';
    assert.equal(dongleKey(`hci:${port}?baud=1000000`), dongleKey(`auto:${port}`));
    assert.notEqual(dongleKey(`hci:${port}`), dongleKey('hci:/dev/serial/by-id/usb-other-if00'));
    assert.equal(dongleKey('sim:?devices=2'), 'sim:');
  });
});
