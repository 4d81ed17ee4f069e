/**
 * Acceptance: Scan and Connect over gRPC against the simulated devices, through the HCI host
 * stack and the virtual controller.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressType, characteristicPropertyToJSON, decodeError, type Advertisement, type ConnectResponse } from '../../clients/ts/index.js';
import { UUIDS } from '../../server/ble/uuid.js';
import { addressTarget, startSimServer } from '../helpers/sim-server.js';

const DEVICES = [
  { name: 'acc-one', address: 'F0:00:00:00:AA:01', rssi: -51 },
  { name: 'acc-two', address: 'F0:00:00:00:AA:10', rssi: -67 },
  { name: 'someone-else', address: 'F0:00:00:00:BB:01', rssi: -45 },
];

describe('Scan and Connect over gRPC on the simulator', () => {
  it('Scan finds the simulated devices with their name, address, RSSI and service UUIDs', { timeout: 15_000 }, async () => {
    const s = await startSimServer({ devices: DEVICES });
    try {
      const found = new Map<string, Advertisement>();
      const stream = s.client.scan(
        {
          adapterId: '',
          filter: { name: '', namePrefix: 'acc-', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false },
          duration: { seconds: 5, nanos: 0 },
          allowDuplicates: false,
          active: true,
        },
        { signal: AbortSignal.timeout(10_000) },
      );
      for await (const r of stream) {
        const ad = r.advertisement;
        assert.ok(ad?.address);
        assert.ok(!found.has(ad.address.value), 'duplicates are suppressed');
        found.set(ad.address.value, ad);
        if (found.size === 2) break;
      }
      for (const want of DEVICES.slice(0, 2)) {
        const ad = found.get(want.address);
        assert.ok(ad, `${want.name} was not found`);
        assert.equal(ad.name, want.name);
        assert.equal(ad.rssi, want.rssi);
        assert.equal(ad.address?.type, AddressType.ADDRESS_TYPE_RANDOM);
        assert.equal(ad.connectable, true);
        // The SDK example applications advertise DIS; only bootloaders advertise FE59.
        assert.deepEqual(ad.serviceUuids, ['180A']);
        assert.equal(ad.dfuBootloader, false);
        assert.ok(ad.rawData.length > 0);
      }
      assert.equal(found.has(DEVICES[2]?.address ?? ''), false, 'the name filter applies');
      // Leaving the call stops the controller's scan.
      await s.scanStopped();
      assert.equal(s.air.scans, 1);
      assert.equal(s.world.air.busy, false);
    } finally {
      await s.close();
    }
  });

  it('Connect to the application: MTU 247, the GATT layout (FE59/8EC90003, DIS); cancelling the call disconnects', { timeout: 15_000 }, async () => {
    const s = await startSimServer();
    try {
      const dev = s.device();
      const leave = new AbortController();
      const stream = s.client
        .connect({ adapterId: '', target: addressTarget(dev.address.value), scanTimeout: undefined, mtu: 0 }, { signal: AbortSignal.any([leave.signal, AbortSignal.timeout(10_000)]) })
        [Symbol.asyncIterator]();
      const first: ConnectResponse['event'] = (await stream.next()).value?.event;
      assert.equal(first?.$case, 'connected');
      if (first?.$case !== 'connected') return;
      const c = first.connected;
      assert.equal(c.mtu, 247);
      assert.equal(c.address?.value, dev.address.value);
      assert.ok((c.parameters?.intervalUs ?? 0) > 0);
      assert.deepEqual(
        c.services.map((x) => x.uuid),
        [UUIDS.genericAccessService, UUIDS.genericAttributeService, UUIDS.deviceInformationService, UUIDS.secureDfuService],
      );
      const dfu = c.services.find((x) => x.uuid === UUIDS.secureDfuService);
      assert.equal(dfu?.characteristics.length, 1);
      const buttonless = dfu?.characteristics[0];
      assert.equal(buttonless?.uuid, UUIDS.buttonlessWithoutBonds);
      assert.deepEqual(buttonless?.properties.map(characteristicPropertyToJSON), ['CHARACTERISTIC_PROPERTY_WRITE', 'CHARACTERISTIC_PROPERTY_INDICATE']);
      const dis = c.services.find((x) => x.uuid === UUIDS.deviceInformationService);
      assert.ok(dis?.characteristics.some((x) => x.uuid === UUIDS.firmwareRevision));
      for (const svc of c.services) {
        assert.ok(svc.startHandle <= svc.endHandle);
        for (const ch of svc.characteristics) assert.ok(ch.valueHandle > ch.declarationHandle && ch.valueHandle <= svc.endHandle);
      }
      // The device holds the link: it stopped advertising.
      assert.equal(s.observed().connections, 1);
      assert.equal(s.world.air.links.length, 1);
      assert.equal(dev.device.advertising(), undefined);

      const gone = s.nextDisconnection();
      leave.abort();
      await assert.rejects(stream.next(), (e: unknown) => decodeError(e).code === 'CANCELLED');
      // The server hung up: the device saw the link end and advertises again; it was not reset.
      await gone;
      assert.equal(s.world.air.links.length, 0);
      assert.notEqual(dev.device.advertising(), undefined);
      assert.equal(dev.mode(), 'application');
      assert.equal(dev.resets(), 0);
    } finally {
      await s.close();
    }
  });
});
