/**
 * Reading the Device Information service before an update: bounded, junk-tolerant values, and a
 * read the device refuses costs only that value while a lost link is passed on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Connection, GattService } from '../../../server/ble/types.js';
import { CharProps } from '../../../server/ble/types.js';
import { UUIDS } from '../../../server/ble/uuid.js';
import { BledfuError, hasCode } from '../../../server/common/errors.js';
import { silentLogger, type Logger } from '../../../server/common/logger.js';
import { DEVICE_INFO_MAX_BYTES, deviceInfoText, hasDeviceInfo, readDeviceInfo } from '../../../server/dfu/deviceInfo.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A DIS with one characteristic per entry, value handles 0x11, 0x13, … in the order given. */
function dis(uuids: readonly string[]): GattService {
  return {
    uuid: UUIDS.deviceInformationService,
    startHandle: 0x10,
    endHandle: 0x10 + 2 * uuids.length,
    characteristics: uuids.map((uuid, i) => ({ uuid, handle: 0x10 + 2 * i, valueHandle: 0x11 + 2 * i, properties: CharProps.read })),
  };
}

/** Only `read` is used; each value handle answers with bytes or throws what it is given. */
function connection(answers: ReadonlyMap<number, Uint8Array | Error>, reads: number[]): Connection {
  const conn: Pick<Connection, 'read'> = {
    read: async (handle) => {
      reads.push(handle);
      const a = answers.get(handle);
      if (a === undefined) throw new Error(`unexpected read of 0x${handle.toString(16)}`);
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return conn as Connection;
}

/** A logger that keeps what was logged at info level. */
function recordingLogger(lines: string[]): Logger {
  const base = silentLogger();
  return Object.assign(Object.create(base) as Logger, {
    info: (obj: unknown, msg?: string) => {
      lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
    },
  });
}

describe('deviceInfoText', () => {
  it('keeps a clean value and drops the padding devices add', () => {
    assert.equal(deviceInfoText(bytes('SN-0042')), 'SN-0042');
    assert.equal(deviceInfoText(Uint8Array.of(...bytes('1.2.3'), 0, 0, 0x20)), '1.2.3');
    assert.equal(deviceInfoText(Uint8Array.of()), undefined);
    assert.equal(deviceInfoText(Uint8Array.of(0, 0)), undefined);
  });

  it('cuts a long value to DEVICE_INFO_MAX_BYTES bytes', () => {
    const long = 'x'.repeat(500);
    assert.equal(deviceInfoText(bytes(long)), 'x'.repeat(DEVICE_INFO_MAX_BYTES));
  });

  it('decodes junk with replacement characters: invalid UTF-8, control characters, a cut multi-byte character', () => {
    assert.equal(deviceInfoText(Uint8Array.of(0x41, 0xff, 0xfe, 0x42)), 'A\uFFFD\uFFFDB');
    assert.equal(deviceInfoText(bytes('a\nb\x1b[2Jc')), 'a\uFFFDb\uFFFD[2Jc');
    // 63 ASCII bytes and a 3-byte character: the cut leaves its first byte.
    const text = deviceInfoText(bytes(`${'y'.repeat(DEVICE_INFO_MAX_BYTES - 1)}€`));
    assert.equal(text, `${'y'.repeat(DEVICE_INFO_MAX_BYTES - 1)}\uFFFD`);
  });
});

describe('readDeviceInfo', () => {
  const all = [UUIDS.manufacturerName, UUIDS.modelNumber, UUIDS.serialNumber, UUIDS.hardwareRevision, UUIDS.firmwareRevision, UUIDS.softwareRevision];

  it('reads every characteristic the service has into its field, and only those', async () => {
    const services = [dis([UUIDS.serialNumber, UUIDS.firmwareRevision])];
    assert.equal(hasDeviceInfo(services), true);
    const reads: number[] = [];
    const info = await readDeviceInfo(connection(new Map([[0x11, bytes('SN-1')], [0x13, bytes('app 1.0')]]), reads), services, silentLogger(), new AbortController().signal);
    assert.deepEqual(info, { serialNumber: 'SN-1', firmwareRevision: 'app 1.0' });
    assert.deepEqual(reads, [0x11, 0x13]);
    assert.equal(hasDeviceInfo([]), false);
  });

  it('a refused read leaves only that field out and is logged; oversized junk is bounded', async () => {
    const services = [dis(all)];
    const answers = new Map<number, Uint8Array | Error>([
      [0x11, bytes('ACME')],
      [0x13, new BledfuError('ATT_ERROR', 'read not permitted', { layer: 'att', facts: { attError: 0x02 } })],
      [0x15, new Uint8Array(4096).fill(0x39)],
      [0x17, Uint8Array.of(0xc3, 0x28)],
      [0x19, bytes('fw 2')],
      [0x1b, Uint8Array.of()],
    ]);
    const logged: string[] = [];
    const info = await readDeviceInfo(connection(answers, []), services, recordingLogger(logged), new AbortController().signal);
    assert.deepEqual(info, { manufacturer: 'ACME', serialNumber: '9'.repeat(DEVICE_INFO_MAX_BYTES), hardwareRevision: '\uFFFD(', firmwareRevision: 'fw 2' });
    assert.equal(logged.length, 1);
    assert.match(logged[0] ?? '', /Device Information read failed.*2A24.*read not permitted/);
  });

  it('a lost link is not swallowed: the caller reconnects as for any other step', async () => {
    const services = [dis(all)];
    const lost = new BledfuError('LINK_LOST', 'link lost (reason 0x8)', { layer: 'ble' });
    const reads: number[] = [];
    await assert.rejects(
      readDeviceInfo(connection(new Map<number, Uint8Array | Error>([[0x11, bytes('ACME')], [0x13, lost]]), reads), services, silentLogger(), new AbortController().signal),
      (e: unknown) => hasCode(e, 'LINK_LOST'),
    );
    assert.deepEqual(reads, [0x11, 0x13], 'nothing read after the loss');
  });
});
