import assert from 'node:assert/strict';
import { realClock } from '../../../../server/common/clock.js';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { bootloaderAddress } from '../../../../server/ble/address.js';
import { hasCode } from '../../../../server/common/errors.js';
import { silentLogger } from '../../../../server/common/logger.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { runSecureDfu } from '../../../../server/dfu/secure/engine.js';
import { EXT_ERROR } from '../../../../server/dfu/secure/controlPoint.js';
import { DEFAULT_DFU_OPTIONS, type DfuEvent, type DfuOptions, type DfuPackage } from '../../../../server/dfu/types.js';
import { FakeNrfDevice, type FakeDeviceOptions } from '../../../helpers/dfu-fake-target.js';
import { addr, FakeAdapter } from '../../../helpers/fake-ble.js';
import { fixtureBytes, fixtureText, PEMS } from '../../../helpers/dfu-fixtures.js';
import { bootloaderAndApplicationPackage, NEEDS_NORDIC_PACKAGES } from '../../../helpers/shared-packages.js';
import { projectZip } from '../../../helpers/project-packages.js';

const APP = addr('C0:11:22:33:44:FF');
const OPTS: DfuOptions = { ...DEFAULT_DFU_OPTIONS, rebootDelayMs: 1, scanTimeoutMs: 500, requestTimeoutMs: 2000 };

async function pkg(name: string): Promise<DfuPackage> {
  return readPackage(fixtureBytes(name));
}

function world(o: Partial<FakeDeviceOptions> = {}): { adapter: FakeAdapter; device: FakeNrfDevice } {
  const device = new FakeNrfDevice({ appAddress: APP, startIn: 'app', buttonless: 'without-bonds', sdFwid: 0x100, ...o });
  return { adapter: new FakeAdapter([device]), device };
}

async function run(adapter: FakeAdapter, p: DfuPackage, options: Partial<DfuOptions> = {}, signal = new AbortController().signal, logs: { level: number; msg: string }[] = []) {
  const events: DfuEvent[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const outcome = await runSecureDfu(adapter, p, { kind: 'address', address: APP }, { ...OPTS, ...options }, { clock: realClock, signal, logger, onEvent: (e) => events.push(e) });
  return { outcome, events, logs };
}

const phases = (events: DfuEvent[]) => events.flatMap((e) => (e.kind === 'phase' ? [e.phase] : []));
const lastProgress = (events: DfuEvent[]) => events.filter((e) => e.kind === 'progress').at(-1);

describe('runSecureDfu against a fake SDK 17 device', NEEDS_NORDIC_PACKAGES, () => {
  it('blinky: buttonless jump to app+1, one object, firmware revision read back', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.sdk16) });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const { outcome, events } = await run(adapter, p);
    assert.equal(outcome.address.value, APP.value);
    assert.equal(outcome.firmwareRevision, 'new-1');
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
    assert.deepEqual(adapter.connects, [APP.value, 'C0:11:22:33:44:00', APP.value]);
    assert.deepEqual(phases(events), ['connecting', 'entering-bootloader', 'transferring', 'activating']);
    assert.deepEqual(events.find((e) => e.kind === 'device'), { kind: 'device', address: APP });
    const lp = lastProgress(events);
    assert.ok(lp?.kind === 'progress' && lp.imageBytesSent === 1508 && lp.totalBytesSent === 1508 && lp.totalBytesTotal === 1508);
    // the CP trace of spec §2.2 (with CCCD enabled first)
    const cp = device.log.filter((l) => !l.startsWith('connect') && l !== 'disconnect' && !l.startsWith('jump') && !l.startsWith('reset'));
    assert.deepEqual(cp, ['select 1', 'prn 0', 'create 1 139', 'crc', 'execute 1', 'select 2', 'prn 17', 'create 2 1508', 'crc', 'execute 2']);
    assert.equal(adapter.activeScans, 0);
  });

  it('hrs: 25 objects (last 640 B) with PRN 4, progress after PRNs and CRCs', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.sdk17) });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { events } = await run(adapter, p, { prn: 4 });
    assert.equal(device.installed.length, 1);
    const creates = device.log.filter((l) => l.startsWith('create 2'));
    assert.equal(creates.length, 25);
    assert.equal(creates[24], 'create 2 640');
    const progress = events.filter((e) => e.kind === 'progress');
    assert.ok(progress.length > 25 * 2);
    const sent = progress.map((e) => (e.kind === 'progress' ? e.imageBytesSent : 0));
    assert.deepEqual([...sent].sort((a, b) => a - b), sent, 'progress never goes backwards');
    assert.equal(sent.at(-1), 98944);
  });

  it('multi-image iosdfu: SD+BL first, rediscover the bootloader, then the application', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.iosdfu) });
    const p = await pkg('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip');
    const { outcome, events } = await run(adapter, p);
    assert.deepEqual(device.installed.map((i) => i.type), [3, 0]);
    assert.equal(outcome.firmwareRevision, 'new-1');
    const imgs = events.flatMap((e) => (e.kind === 'progress' ? [e.imageKind] : []));
    assert.equal(imgs[0], 'softdevice_bootloader');
    assert.equal(imgs.at(-1), 'application');
    const lp = lastProgress(events);
    assert.ok(lp?.kind === 'progress' && lp.totalBytesSent === 177352 + 53624 && lp.imageIndex === 1 && lp.imageCount === 2);
  });

  it('starts directly in the bootloader when the target already is one', async () => {
    const device = new FakeNrfDevice({ appAddress: APP, startIn: 'bootloader', sdFwid: 0x100 });
    const adapter = new FakeAdapter([device]);
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const events: DfuEvent[] = [];
    const outcome = await runSecureDfu(adapter, p, { kind: 'name', name: 'DfuTarg' }, OPTS, { clock: realClock, signal: new AbortController().signal, logger: silentLogger(), onEvent: (e) => events.push(e) });
    assert.equal(device.installed.length, 1);
    assert.equal(outcome.address.value, APP.value, 'the application is found at bootloader address − 1');
    assert.equal(outcome.firmwareRevision, 'new-1');
  });

  it('resumes after a link loss mid-object (data progress kept, SDK 15 style)', async () => {
    const { adapter, device } = world({ keepDataProgress: true, faults: { dropAtDataOffset: [8192 + 244 * 5] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { events } = await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.ok(phases(events).includes('resuming'));
    // after the reconnect: the init packet is executed again without Create, object 2 is continued without Create
    const afterDrop = device.log.slice(device.log.findIndex((l) => l.startsWith('fault')));
    assert.ok(!afterDrop.includes('create 1 144'));
    assert.equal(afterDrop.filter((l) => l.startsWith('create 2')).length, 22); // objects 3..24; object 2 continued without Create
  });

  it('resumes after a link loss with SDK 16+ progress reload (init kept, data from 0)', async () => {
    const { adapter, device } = world({ faults: { dropAtDataOffset: [4096 + 244 * 3] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    await run(adapter, p);
    assert.equal(device.installed.length, 1);
    const afterDrop = device.log.slice(device.log.findIndex((l) => l.startsWith('fault')));
    assert.ok(!afterDrop.includes('create 1 144'), 'init packet not sent again');
    assert.equal(afterDrop.filter((l) => l.startsWith('create 2')).length, 25);
  });

  it('resumes on an object boundary after a Create was accepted: the 0x08 re-Execute counts as executed', async () => {
    const { adapter, device } = world({ keepDataProgress: true, faults: { dropAfterCreateAt: [8192] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    await run(adapter, p);
    assert.equal(device.installed.length, 1);
    const afterDrop = device.log.slice(device.log.findIndex((l) => l.startsWith('fault')));
    assert.deepEqual(afterDrop.slice(afterDrop.indexOf('select 2'), afterDrop.indexOf('select 2') + 4), ['select 2', 'prn 17', 'execute 2', 'create 2 4096']);
    assert.equal(afterDrop.filter((l) => l.startsWith('create 2')).length, 23);
  });

  it('retries an object whose CRC does not match', async () => {
    const { adapter, device } = world({ faults: { corruptAtDataOffset: [5000] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.log.filter((l) => l === 'create 2 4096').length, 25);
  });

  it('detects corruption through a PRN and fails after the retries are used up', async () => {
    const { adapter } = world({ faults: { corruptAtDataOffset: [100, 150, 200] } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { prn: 1, retries: 2 }), (e: unknown) => hasCode(e, 'DFU_CRC_MISMATCH') && /after 3 attempts/.test(e.message));
  });

  it('surfaces remote extended errors by name with the package facts', async () => {
    const { adapter } = world({ sdFwid: 0xb6 });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    await assert.rejects(run(adapter, p), (e: unknown) =>
      hasCode(e, 'DFU_REMOTE_ERROR') &&
      e.facts.dfuResult === 0x0b && e.facts.dfuExtended === EXT_ERROR.SD_VERSION_FAILURE && e.facts.dfuExtendedName === 'SD_VERSION_FAILURE' &&
      /sd_req \[0x100, 0xCAFE\]/.test(e.message) && /--sd-req/.test(e.remedy ?? ''),
    );
  });

  it('unsigned package on a signing bootloader → SIGNATURE_MISSING with the nrfutil remedy', async () => {
    const { adapter } = world({ publicKeyPem: fixtureText(PEMS.sdk17), sdFwid: 0x8c });
    const p = await pkg('nrfutil_test_package_unsigned.zip');
    await assert.rejects(run(adapter, p), (e: unknown) => hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuExtendedName === 'SIGNATURE_MISSING' && /--key-file/.test(e.remedy ?? ''));
  });

  it('wrong key → INVALID_OBJECT', async () => {
    const { adapter } = world({ publicKeyPem: fixtureText(PEMS.sdk17) });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p), (e: unknown) => hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuResultName === 'INVALID_OBJECT');
  });

  it('cancel mid-transfer → CANCELLED, link closed', async () => {
    const { adapter, device } = world();
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const ac = new AbortController();
    const events: DfuEvent[] = [];
    const promise = runSecureDfu(adapter, p, { kind: 'address', address: APP }, OPTS, {
      clock: realClock,
      signal: ac.signal,
      logger: silentLogger(),
      onEvent: (e) => {
        events.push(e);
        if (e.kind === 'progress' && e.imageBytesSent >= 20000) ac.abort();
      },
    });
    await assert.rejects(promise, (e: unknown) => hasCode(e, 'CANCELLED'));
    assert.equal(device.installed.length, 0);
    assert.equal(device.log.at(-1), 'disconnect');
    assert.equal(adapter.activeScans, 0);
  });

  it('progress says what the device held when the run came to the image: 0 fresh and after its own reconnects, the resume point on a later run', async () => {
    const { adapter, device } = world({ keepDataProgress: true, faults: { dropAtDataOffset: [8192 + 244 * 5] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const ac = new AbortController();
    const first: DfuEvent[] = [];
    const cancelled = runSecureDfu(adapter, p, { kind: 'address', address: APP }, OPTS, {
      clock: realClock,
      signal: ac.signal,
      logger: silentLogger(),
      onEvent: (e) => {
        first.push(e);
        if (e.kind === 'progress' && e.imageBytesSent >= 20000) ac.abort();
      },
    });
    await assert.rejects(cancelled, (e: unknown) => hasCode(e, 'CANCELLED'));
    assert.ok(phases(first).includes('resuming'), 'the first run reconnected once');
    const firstProgress = first.flatMap((e) => (e.kind === 'progress' ? [e] : []));
    assert.ok(firstProgress.length > 0 && firstProgress.every((e) => e.imageBytesAtStart === 0), 'its own bytes, reconnect or not');

    const second: DfuEvent[] = [];
    // To the bootloader the first run left the device in (address + 1, as a scan shows it).
    await runSecureDfu(adapter, p, { kind: 'address', address: bootloaderAddress(APP) }, OPTS, { clock: realClock, signal: new AbortController().signal, logger: silentLogger(), onEvent: (e) => second.push(e) });
    assert.equal(device.installed.length, 1);
    const resumed = second.flatMap((e) => (e.kind === 'progress' ? [e] : []));
    const atStart = resumed[0]?.imageBytesAtStart ?? 0;
    assert.ok(atStart >= 20000, `the later run started where the device was (${atStart})`);
    assert.ok(resumed.every((e) => e.imageBytesAtStart === atStart && e.imageBytesSent >= atStart));
  });

  it('a cancel once the last image was accepted does not report CANCELLED: the device has the new firmware', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.sdk16) });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const ac = new AbortController();
    const events: DfuEvent[] = [];
    const outcome = await runSecureDfu(adapter, p, { kind: 'address', address: APP }, OPTS, {
      clock: realClock,
      signal: ac.signal,
      logger: silentLogger(),
      onEvent: (e) => {
        events.push(e);
        if (e.kind === 'phase' && e.phase === 'activating') ac.abort();
      },
    });
    assert.equal(outcome.address.value, APP.value);
    assert.equal(outcome.firmwareRevision, undefined, 'the read-back was skipped');
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
  });

  it('device not found → DEVICE_NOT_FOUND naming what was looked for', async () => {
    const adapter = new FakeAdapter([]);
    adapter.bystanders.push({ address: addr('AA:BB:CC:DD:EE:01'), name: 'Thermo', serviceUuids: [] });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { scanTimeoutMs: 50 }), (e: unknown) =>
      hasCode(e, 'DEVICE_NOT_FOUND') && /C0:11:22:33:44:FF/.test(e.message) && /50 ms/.test(e.message) && /Thermo/.test(e.message),
    );
  });

  it('bonded buttonless on an unbonded link → BUTTONLESS_FAILED with a remedy', async () => {
    const { adapter } = world({ buttonless: 'with-bonds' });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p), (e: unknown) => hasCode(e, 'BUTTONLESS_FAILED') && /NOT_BONDED/.test(e.message) && /bond/.test(e.remedy ?? ''));
  });

  it('buttonless off against an application with only the buttonless service → GATT_SERVICE_MISSING saying it runs its application, remedy --buttonless auto', async () => {
    const { adapter, device } = world();
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { buttonless: 'off' }), (e: unknown) =>
      hasCode(e, 'GATT_SERVICE_MISSING') && /running its application/.test(e.message) && /--buttonless off/.test(e.message) && /--buttonless auto/.test(e.remedy ?? ''),
    );
    assert.ok(!device.log.includes('jump to bootloader'));
  });

  it('buttonless required against a device without any DFU service → GATT_SERVICE_MISSING naming what was found', async () => {
    const { adapter } = world({ buttonless: 'none' });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { buttonless: 'required' }), (e: unknown) =>
      hasCode(e, 'GATT_SERVICE_MISSING') && /neither a Secure DFU bootloader nor a buttonless DFU service/.test(e.message) && /found: 180A \(Device Information\)$/.test(e.message),
    );
  });

  it('buttonless required against a legacy DFU application (service 1530) → named as legacy DFU, the remedy a legacy package', async () => {
    const { adapter } = world({ buttonless: 'legacy' });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { buttonless: 'required' }), (e: unknown) =>
      hasCode(e, 'GATT_SERVICE_MISSING') && /found: 00001530-1212-EFDE-1523-785FEABCD123 \(legacy DFU \(nRF5 SDK ≤ 11, Adafruit nRF52\)\), 180A/.test(e.message) && /speaks legacy DFU/.test(e.message) && /legacy DFU package/.test(e.remedy ?? ''),
    );
  });
});

describe('buttonless set-name fallback (spec §4.1 step 3)', NEEDS_NORDIC_PACKAGES, () => {
  const BL = 'C0:11:22:33:44:00';

  it('20 02 04 (name refused): enters without a name, the bootloader is found as "DfuTarg" at app + 1', async () => {
    const { adapter, device } = world({ faults: { setName: 'refuse' } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.bootloaderName, undefined);
    assert.deepEqual(adapter.connects, [APP.value, BL, APP.value]);
  });

  it('reset on the name request: reconnects to the application and enters without a name', async () => {
    const { adapter, device } = world({ faults: { setName: 'reset' } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const { events } = await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.bootloaderName, undefined);
    assert.deepEqual(adapter.connects, [APP.value, APP.value, BL, APP.value]);
    assert.deepEqual(device.log.slice(0, 4), ['connect app', 'reset on set-name', 'connect app', 'jump to bootloader']);
    assert.deepEqual(phases(events), ['connecting', 'entering-bootloader', 'entering-bootloader', 'transferring', 'activating']);
  });
});

describe('bytes lost in the host stack (spec §3.3 step 5)', NEEDS_NORDIC_PACKAGES, () => {
  // hrs objects are 4096 B = 16 packets of 244 B + one of 192 B at MTU 247.
  it('short CRC with a matching prefix: continues inside the object from the reported offset, then PRN 1', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 3660, count: 2 }] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { logs } = await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.log.filter((l) => l === 'create 2 4096').length, 24, 'no object created twice');
    const lost = device.log.indexOf('fault: lost a packet at 7756');
    // the short answer is believed once the device repeats it (a late PRN would not repeat)
    assert.deepEqual(device.log.slice(lost, lost + 6), ['fault: lost a packet at 7756', 'fault: lost a packet at 7756', 'crc', 'crc', 'prn 1', 'execute 2']);
    assert.ok(logs.some((l) => /packet receipt notification after every packet/.test(l.msg)), 'the PRN change is logged');
    // every later object is confirmed packet by packet: 17 PRN-paced packets for each full object
    assert.ok(device.log.slice(lost).filter((l) => l.startsWith('prn')).every((l) => l === 'prn 1'));
  });

  it('short CRC whose prefix does not match (a packet lost mid-object): the object is created again', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 976, count: 1 }] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.log.filter((l) => l === 'create 2 4096').length, 25);
    assert.ok(!device.log.includes('prn 1'));
  });
});

describe('PRNs that arrive late or off the host\'s count (spec §2.5, §3.6)', NEEDS_NORDIC_PACKAGES, () => {
  it('a PRN arriving after the last packet of an object is not taken for the CRC answer', async () => {
    // Link lost after packet 6 of object 3; on resume the device's PRN count is not restarted
    // (§3.6), so its PRNs fall on object packets 8, 12 and 16, each sent two writes late: the
    // one for packet 16 is still on its way when the host, done with packet 17, asks for the CRC.
    const { adapter, device } = world({ keepDataProgress: true, faults: { dropAtDataOffset: [8192 + 244 * 6], prnCountOnlyResetByCreate: true, delayPrns: 2 } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { logs } = await run(adapter, p, { prn: 4 });
    assert.equal(device.installed.length, 1);
    const afterDrop = device.log.slice(device.log.findIndex((l) => l.startsWith('fault')));
    assert.equal(afterDrop.filter((l) => l.startsWith('create 2')).length, 22, 'object 3 continued, not sent again');
    assert.ok(!logs.some((l) => /did not check out|CRC mismatch|bytes lost/.test(l.msg)), 'PRNs validated by the offset they report');
  });

  it('PRNs held back by the device on every object still validate and pace the transfer', async () => {
    const { adapter, device } = world({ faults: { delayPrns: 1 } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const { logs } = await run(adapter, p, { prn: 2 });
    assert.equal(device.installed.length, 1);
    assert.equal(device.log.filter((l) => l.startsWith('create 2')).length, 1);
    assert.ok(!logs.some((l) => /did not check out|CRC mismatch|bytes lost/.test(l.msg)));
  });
});

describe('a due PRN that does not come (spec §3.3 step 5, §3.6, §9 item 5)', NEEDS_NORDIC_PACKAGES, () => {
  // Far above the PRN wait the fake's 15 ms connection interval gives, so a run that ends in
  // this timeout (and a reconnect) instead of the short wait fails the connect-log checks.
  const TIMEOUT = 5000;
  const prnWaits = (logs: { msg: string }[]): number[] =>
    logs.flatMap((l) => (/no packet receipt notification within/.test(l.msg) ? [(l as { waitMs?: number }).waitMs ?? Number.NaN] : []));
  const noReconnect = (adapter: FakeAdapter, device: FakeNrfDevice, events: DfuEvent[]): void => {
    assert.deepEqual(device.log.filter((l) => l.startsWith('connect')), ['connect app', 'connect bootloader', 'connect app'], 'one bootloader connection');
    assert.deepEqual(adapter.connects, [APP.value, 'C0:11:22:33:44:00', APP.value]);
    assert.ok(!phases(events).includes('resuming'));
  };

  it('PRN 1, a packet lost mid-object: a short wait, then the CRC, then on from the reported offset in the same object', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 244 * 5, count: 1 }] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { events, logs } = await run(adapter, p, { prn: 1, requestTimeoutMs: TIMEOUT });
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
    noReconnect(adapter, device, events);
    const waits = prnWaits(logs);
    assert.equal(waits.length, 1, 'one PRN wait ran out: the one for the lost packet');
    assert.ok(waits[0]! > 0 && waits[0]! < TIMEOUT, `PRN wait ${waits[0]} ms is bounded below the request timeout`);
    const lost = device.log.indexOf('fault: lost a packet at 5316');
    // straight after the lost packet: the CRC (asked twice, the short answer is believed once repeated), no Create
    assert.deepEqual(device.log.slice(lost, lost + 3), ['fault: lost a packet at 5316', 'crc', 'crc']);
    assert.equal(device.log.filter((l) => l === 'create 2 4096').length, 24, 'no object created twice');
    assert.ok(logs.some((l) => /bytes lost on the way/.test(l.msg)));
  });

  it('PRN 4, a packet lost inside a batch: the CRC after the short wait does not match, the object is created again, no reconnect', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 244, count: 1 }] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { events, logs } = await run(adapter, p, { prn: 4, requestTimeoutMs: TIMEOUT });
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
    noReconnect(adapter, device, events);
    assert.equal(prnWaits(logs).length, 1);
    assert.equal(device.log.filter((l) => l === 'create 2 4096').length, 25, 'the damaged object was created again');
    assert.ok(logs.some((l) => /data object CRC mismatch/.test(l.msg)));
  });

  it('a PRN held by the device past the wait: the CRC request brings it, nothing was lost, the transfer goes on as it was', async () => {
    const { adapter, device } = world({ faults: { delayPrns: 1, prnHoldMs: 60_000 } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    const { events, logs } = await run(adapter, p, { prn: 2, requestTimeoutMs: TIMEOUT });
    assert.equal(device.installed.length, 1);
    noReconnect(adapter, device, events);
    assert.ok(prnWaits(logs).length >= 1);
    assert.equal(device.log.filter((l) => l.startsWith('create 2')).length, 1);
    assert.ok(!device.log.includes('prn 1'), 'a late PRN is no loss: the PRN interval stays');
    assert.ok(!logs.some((l) => /did not check out|CRC mismatch|bytes lost/.test(l.msg)));
  });
});

describe('CP request timeout (spec §3.4, §9 item 7)', NEEDS_NORDIC_PACKAGES, () => {
  it('a lost response is a link failure: reconnect and resume where the device is', async () => {
    const { adapter, device } = world({ keepDataProgress: true, faults: { unanswered: [{ request: 'execute 2', times: 1 }] } });
    const p = await pkg('sdk17.0.2_hrs_application_s140.zip');
    const { events, logs } = await run(adapter, p, { requestTimeoutMs: 100 });
    assert.equal(device.installed.length, 1);
    assert.ok(phases(events).includes('resuming'));
    const lost = device.log.indexOf('fault: response lost');
    const after = device.log.slice(lost);
    // the first object was executed although its answer was lost: re-Execute on the boundary, go on with the second
    assert.deepEqual(after.slice(after.indexOf('select 2'), after.indexOf('select 2') + 4), ['select 2', 'prn 17', 'execute 2', 'create 2 4096']);
    assert.equal(device.log.filter((l) => l.startsWith('create 2')).length, 25, 'no object sent twice');
    assert.ok(logs.some((l) => /link failure/.test(l.msg) && /no answer to EXECUTE/.test(l.msg)));
  });

  it('after `retries` reconnects: DFU_TIMEOUT (not LINK_LOST) naming the request and the timeout', async () => {
    const { adapter, device } = world({ faults: { unanswered: [{ request: 'select 2', times: 99 }] } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p, { requestTimeoutMs: 100, retries: 2 }), (e: unknown) =>
      hasCode(e, 'DFU_TIMEOUT') &&
      /no answer to SELECT \(06 02\) — Select data object of the application image — within 100 ms/.test(e.message) &&
      /gave up after 2 reconnects/.test(e.message) &&
      e.remedy !== undefined,
    );
    assert.equal(device.log.filter((l) => l === 'select 2').length, 3, 'first attempt + 2 reconnects');
  });
});

describe('ATT 0xFD: the device did not take the subscription (spec §1.1, §1.2, §9 item 4)', NEEDS_NORDIC_PACKAGES, () => {
  it('on the buttonless write → BUTTONLESS_FAILED naming the indications, with a remedy', async () => {
    const { adapter } = world({ faults: { cccdIgnored: 'app' } });
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p), (e: unknown) =>
      hasCode(e, 'BUTTONLESS_FAILED') && /0xFD/.test(e.message) && /indications/.test(e.message) && e.facts.attError === 0xfd && /restart the device/.test(e.remedy ?? ''),
    );
  });

  it('on a control point write → DFU_PROTOCOL_ERROR naming the notifications and the request, with a remedy', async () => {
    // in DFU mode at APP (its application would be at APP − 1)
    const device = new FakeNrfDevice({ appAddress: addr('C0:11:22:33:44:FE'), startIn: 'bootloader', sdFwid: 0x100, faults: { cccdIgnored: 'bootloader' } });
    const adapter = new FakeAdapter([device]);
    const p = await pkg('nrfutil_blinky_mbr_sdk160.zip');
    await assert.rejects(run(adapter, p), (e: unknown) =>
      hasCode(e, 'DFU_PROTOCOL_ERROR') && /0xFD/.test(e.message) && /notifications/.test(e.message) && /SELECT/.test(e.message) && e.facts.attError === 0xfd && /restart the device/.test(e.remedy ?? ''),
    );
    assert.equal(device.log.filter((l) => l === 'connect bootloader').length, 1, 'not retried as a link failure');
  });
});

describe('between images and after the last one (spec §3.7; SDK 15–17 activation)', NEEDS_NORDIC_PACKAGES, () => {
  const blApp = async (): Promise<DfuPackage> => readPackage(await bootloaderAndApplicationPackage());
  const details = (events: DfuEvent[], phase: string): string[] => events.flatMap((e) => (e.kind === 'phase' && e.phase === phase ? [e.detail] : []));

  it('bootloader + application: the application the bootloader started is asked through buttonless to enter DFU mode again', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.sdk17) });
    const p = await blApp();
    assert.deepEqual(p.images.map((i) => i.summary.kind), ['bootloader', 'application']);
    const { outcome, events } = await run(adapter, p);
    assert.deepEqual(device.installed.map((i) => i.type), [2, 0]);
    assert.equal(outcome.deviceState, 'application');
    assert.equal(outcome.firmwareRevision, 'new-1');
    assert.equal(outcome.address.value, APP.value);
    assert.deepEqual(phases(events), ['connecting', 'entering-bootloader', 'transferring', 'entering-bootloader', 'transferring', 'activating']);
    assert.ok(details(events, 'entering-bootloader').at(-1)?.includes('the bootloader started the application after activating the bootloader image; asking it to enter DFU mode again for the application image'));
    const bl = bootloaderAddress(APP).value;
    // app (jump) → bootloader (BL image) → app (jump again) → bootloader (app image) → app (revision)
    assert.deepEqual(adapter.connects, [APP.value, bl, APP.value, bl, APP.value]);
    assert.equal(device.log.filter((l) => l.startsWith('jump')).length, 2);
  });

  it('bootloader + application started in DFU mode: the application comes back at the bootloader address − 1 and is asked to re-enter', async () => {
    const device = new FakeNrfDevice({ appAddress: APP, startIn: 'bootloader', buttonless: 'without-bonds', sdFwid: 0x100, publicKeyPem: fixtureText(PEMS.sdk17) });
    const adapter = new FakeAdapter([device]);
    const events: DfuEvent[] = [];
    const outcome = await runSecureDfu(adapter, await blApp(), { kind: 'address', address: bootloaderAddress(APP) }, OPTS, { clock: realClock, signal: new AbortController().signal, logger: silentLogger(), onEvent: (e) => events.push(e) });
    assert.deepEqual(device.installed.map((i) => i.type), [2, 0]);
    assert.deepEqual([outcome.address.value, outcome.deviceState, outcome.firmwareRevision], [APP.value, 'application', 'new-1']);
    // The second 'connecting' says the device was found in its bootloader (a job by the bootloader's address).
    assert.deepEqual(phases(events), ['connecting', 'connecting', 'transferring', 'entering-bootloader', 'transferring', 'activating']);
  });

  it('bootloader + application with buttonless off: the application that came back cannot be asked, GATT_SERVICE_MISSING says so', async () => {
    const device = new FakeNrfDevice({ appAddress: APP, startIn: 'bootloader', buttonless: 'without-bonds', sdFwid: 0x100, publicKeyPem: fixtureText(PEMS.sdk17) });
    const adapter = new FakeAdapter([device]);
    await assert.rejects(
      runSecureDfu(adapter, await blApp(), { kind: 'address', address: bootloaderAddress(APP) }, { ...OPTS, buttonless: 'off' }, { clock: realClock, signal: new AbortController().signal, logger: silentLogger(), onEvent: () => undefined }),
      (e: unknown) => hasCode(e, 'GATT_SERVICE_MISSING') && e.message.includes('buttonless entry is switched off'),
    );
    assert.deepEqual(device.installed.map((i) => i.type), [2], 'the bootloader image was installed before');
  });

  it('SoftDevice + bootloader + application: the bootloader waits in DFU mode, no buttonless between the images', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.iosdfu) });
    const { outcome, events } = await run(adapter, await pkg('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip'));
    assert.equal(outcome.deviceState, 'application');
    assert.equal(outcome.firmwareRevision, 'new-1');
    assert.equal(device.log.filter((l) => l.startsWith('jump')).length, 1);
    assert.deepEqual(phases(events), ['connecting', 'entering-bootloader', 'transferring', 'transferring', 'activating']);
  });

  it('SoftDevice without an application: ends as soon as the device is seen in DFU mode, not after a scan for an application', async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.sdk17) });
    // A scan timeout the test would not survive: only finding the bootloader ends the job.
    const { outcome, events } = await run(adapter, await pkg('sdk17.0.2_softdevice_s140.zip'), { scanTimeoutMs: 120_000 });
    assert.deepEqual(device.installed.map((i) => i.type), [1]);
    assert.equal(device.mode, 'bootloader');
    assert.equal(outcome.deviceState, 'dfu-mode');
    assert.equal(outcome.firmwareRevision, undefined);
    assert.equal(outcome.address.value, APP.value, "the application's address, for the next package");
    assert.ok(details(events, 'activating').some((d) => d.includes('softdevice image was activated; the device stays in its bootloader (DFU mode)') && d.includes('send an application package next')));
    assert.equal(adapter.activeScans, 0);
  });
});

describe('a refusal as not newer (FW_VERSION_FAILURE) is "up to date", nothing else is', () => {
  const appPackage = async (): Promise<DfuPackage> => readPackage(await projectZip('app'));

  it('FW_VERSION_FAILURE at the init packet of a one-image package: outcome upToDate, no data sent, Abort, the device back in its application', async () => {
    const { adapter, device } = world({ faults: { rejectInitWithExt: EXT_ERROR.FW_VERSION_FAILURE }, firmwareRevision: 'app v7' });
    const p = await appPackage();
    const { outcome, events } = await run(adapter, p);
    assert.deepEqual(outcome.upToDate, { image: p.images[0]!.summary });
    assert.equal(outcome.deviceState, 'application');
    assert.equal(outcome.firmwareRevision, 'app v7');
    assert.equal(outcome.address.value, APP.value);
    assert.equal(device.installed.length, 0);
    assert.equal(device.log.includes('select 2'), false, 'no data object was touched');
    assert.deepEqual(device.log.filter((l) => l === 'execute 1' || l === 'abort'), ['execute 1', 'abort']);
    assert.equal(device.mode, 'app');
    assert.equal(events.filter((e) => e.kind === 'progress').length, 0);
  });

  for (const [name, ext] of [
    ['HW_VERSION_FAILURE', EXT_ERROR.HW_VERSION_FAILURE],
    ['SD_VERSION_FAILURE', EXT_ERROR.SD_VERSION_FAILURE],
    ['SIGNATURE_MISSING', EXT_ERROR.SIGNATURE_MISSING],
    ['INIT_COMMAND_INVALID', EXT_ERROR.INIT_COMMAND_INVALID],
  ] as const) {
    it(`${name} stays a failure (DFU_REMOTE_ERROR), no Abort`, async () => {
      const { adapter, device } = world({ faults: { rejectInitWithExt: ext } });
      await assert.rejects(run(adapter, await appPackage()), (e: unknown) => hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuExtendedName === name);
      assert.equal(device.log.includes('abort'), false);
    });
  }

  it('FW_VERSION_FAILURE on an image of a multi-image package stays a failure (its other images may be newer)', NEEDS_NORDIC_PACKAGES, async () => {
    const { adapter, device } = world({ publicKeyPem: fixtureText(PEMS.iosdfu), faults: { rejectInitWithExt: EXT_ERROR.FW_VERSION_FAILURE } });
    const p = await pkg('iosdfu_nrf52840_sdk_17.1_sd_bl_app.zip');
    await assert.rejects(run(adapter, p), (e: unknown) => hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuExtendedName === 'FW_VERSION_FAILURE');
    assert.equal(device.log.includes('abort'), false);
  });
});

describe('the PRN at a full object\'s last packet answers for its CRC (spec §2.5)', () => {
  // The project's app package: 99 000 B = 24 objects of 4096 B (16 × 244 + 192 B: 17 packets at
  // MTU 247) and a last one of 696 B.
  const appPackage = async (): Promise<DfuPackage> => readPackage(await projectZip('app'));
  const count = (log: readonly string[], entry: string): number => log.filter((l) => l === entry).length;
  const prnWaits = (logs: { msg: string }[]): number => logs.filter((l) => /no packet receipt notification within/.test(l.msg)).length;

  it('without a PRN asked for: PRN 17 after the data Select, no CRC request after any full object', async () => {
    const { adapter, device } = world();
    const p = await appPackage();
    const { logs } = await run(adapter, p);
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
    const data = device.log.slice(device.log.indexOf('select 2'));
    assert.deepEqual(data.slice(0, 3), ['select 2', 'prn 17', 'create 2 4096']);
    assert.equal(count(data, 'create 2 4096'), 24);
    // the only CRC requests: the init packet's and the last, partial object's (no PRN at its end)
    assert.equal(count(device.log, 'crc'), 2);
    const last = data.indexOf('create 2 696');
    assert.deepEqual(data.slice(last, last + 3), ['create 2 696', 'crc', 'execute 2']);
    assert.equal(prnWaits(logs), 0);
  });

  it('an object-end PRN held past the wait: one short wait, the CRC request brings it, then a CRC after every object', async () => {
    const { adapter, device } = world({ faults: { delayPrns: 1, prnHoldMs: 60_000 } });
    const p = await appPackage();
    const { logs } = await run(adapter, p, { requestTimeoutMs: 5000 });
    assert.equal(device.installed.length, 1);
    assert.equal(prnWaits(logs), 1, 'waited once for an object-end PRN');
    assert.ok(logs.some((l) => /asking for the CRC after every object from now on/.test(l.msg)));
    assert.equal(count(device.log, 'create 2 4096'), 24, 'no object sent twice');
    assert.ok(count(device.log, 'crc') >= 1 + 25, 'a CRC request after every data object');
    assert.ok(!device.log.includes('prn 1'), 'a late PRN is no loss');
    assert.ok(!logs.some((l) => /did not check out|CRC mismatch|bytes lost/.test(l.msg)));
  });

  it('a packet lost mid-object: the object is sent again, and later objects still end on their PRN', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 244 * 3, count: 1 }] } });
    const p = await appPackage();
    const { logs } = await run(adapter, p, { requestTimeoutMs: 5000 });
    assert.equal(device.installed.length, 1);
    assert.equal(device.installed[0]!.sha256, p.images[0]!.summary.sha256);
    assert.equal(count(device.log, 'create 2 4096'), 25, 'the damaged object was created again');
    assert.ok(logs.some((l) => /data object CRC mismatch/.test(l.msg)));
    // after the second object went through, only the last, partial object asks for its CRC
    const afterRetry = device.log.slice(device.log.indexOf('execute 2', device.log.indexOf('fault: lost a packet at 4828')) + 1);
    assert.equal(count(afterRetry, 'crc'), 1);
    assert.ok(!logs.some((l) => /asking for the CRC after every object/.test(l.msg)), 'a loss does not switch the object-end PRN off');
  });

  it('after a loss lowers PRN to 1, the PRN of each object\'s last packet stands in for its CRC', async () => {
    const { adapter, device } = world({ faults: { loseDataPackets: [{ at: 4096 + 3660, count: 2 }] } });
    const p = await appPackage();
    await run(adapter, p, { requestTimeoutMs: 5000 });
    assert.equal(device.installed.length, 1);
    const afterPrn1 = device.log.slice(device.log.indexOf('prn 1'));
    assert.equal(afterPrn1[1], 'execute 2', 'the object continued from the reported offset ends on its last PRN');
    // every later object, the partial last one too, ends on a PRN: no CRC request at all
    assert.equal(count(afterPrn1, 'crc'), 0);
  });
});
