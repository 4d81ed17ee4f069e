import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../../../server/ble/address.js';
import { fromHex } from '../../../server/common/bytes.js';
import { silentLogger } from '../../../server/common/logger.js';
import { GapPeripheral } from '../../../server/host/gap/peripheral.js';
import { HciHost } from '../../../server/host/hci/controller.js';
import type { HciEvent } from '../../../server/host/hci/events.js';
import type { AdvertisingParams, PeripheralLink, PeripheralRadio, SimPeripheral } from '../../../server/sim/peripheral.js';
import { SimScheduler } from '../../../server/sim/scheduler.js';
import { DeviceCarrier } from '../../../server/simbridge/carrier.js';
import { FakeController } from '../../helpers/fakeController.js';
import { settle } from '../../helpers/manualClock.js';

/** A device whose advertising the test sets, recording what its links bring. */
class ScriptedDevice implements SimPeripheral {
  readonly label = 'scripted';
  readonly rssi = -40;
  adv: AdvertisingParams | undefined = {
    address: parseAddress('F0:0D:C0:DE:00:01', 'random'),
    intervalMs: 100,
    data: fromHex('020106'),
    scanResponse: new Uint8Array(0),
    connectable: true,
  };
  radio: PeripheralRadio | undefined;
  links: PeripheralLink[] = [];
  received: number[][] = [];
  disconnects: number[] = [];

  advertising(): AdvertisingParams | undefined {
    return this.adv;
  }
  attachRadio(radio: PeripheralRadio): void {
    this.radio = radio;
  }
  accept(link: PeripheralLink) {
    this.links.push(link);
    return {
      onL2cap: (_cid: number, payload: Uint8Array) => this.received.push([...payload]),
      onParametersChanged: () => undefined,
      onDisconnected: (reason: number) => this.disconnects.push(reason),
    };
  }
}

const connected: HciEvent = {
  kind: 'leConnectionComplete',
  status: 0,
  handle: 0x40,
  role: 1,
  peerAddressType: 0,
  peerAddress: '00:AA:01:00:00:42',
  connInterval: 24,
  connLatency: 0,
  supervisionTimeout: 400,
  centralClockAccuracy: 0,
};

async function setup(speed: number) {
  const fake = new FakeController({ leBufferLength: 192, leBufferCount: 1 });
  // Echo the reason, as btvirt does.
  fake.on('disconnect', (c) => {
    if (c.name === 'disconnect') setImmediate(() => fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: c.params.handle, reason: c.params.reason }).catch(() => undefined));
    return { kind: 'status', status: 0 };
  });
  const logger = silentLogger();
  const scheduler = new SimScheduler({ speed });
  const device = new ScriptedDevice();
  const hci = new HciHost(fake.host, { logger });
  let carrier: DeviceCarrier | undefined;
  const peripheral = new GapPeripheral(hci, { logger, onConnection: (c) => (carrier as DeviceCarrier).onConnection(c) });
  await peripheral.open();
  carrier = new DeviceCarrier({ device, peripheral, scheduler, logger });
  await carrier.start();
  await fake.waitForCommand('leSetAdvertisingEnable');
  await fake.sendEvent(connected);
  await settle();
  const link = device.links[0];
  assert.ok(link);
  const close = async (): Promise<void> => {
    carrier?.close();
    scheduler.close();
    await peripheral.close();
  };
  return { fake, scheduler, device, link, close };
}

const disconnectReasons = (fake: FakeController): number[] => fake.commands.flatMap((c) => (c.name === 'disconnect' ? [c.params.reason] : []));

describe('simulated device carried on an HCI controller', () => {
  it("mirrors the device's advertising and hands it the connection", async () => {
    const { fake, device, link, close } = await setup(1);
    try {
      const params = fake.commands.find((c) => c.name === 'leSetAdvertisingParameters');
      assert.equal(params?.name === 'leSetAdvertisingParameters' ? params.params.ownAddressType : -1, 1);
      assert.deepEqual(link.peerAddress, { value: '00:AA:01:00:00:42', type: 'public' });
      assert.equal(link.parameters().supervisionTimeoutMs, 4000);
      await fake.sendL2cap(0x40, 4, Uint8Array.of(1, 2));
      await settle();
      assert.deepEqual(device.received, [[1, 2]]);
      let sent = false;
      link.sendL2cap(4, Uint8Array.of(9), () => (sent = true));
      await settle();
      assert.equal(sent, true);
      assert.deepEqual([...(fake.acl.at(-1)?.data ?? [])], [1, 0, 4, 0, 9]);
    } finally {
      await close();
    }
  });

  it('lose(): nothing crosses, then one supervision timeout later (modelled) both sides see 0x08', async () => {
    // 4 s of supervision timeout at 1000× is 4 ms of real time.
    const { fake, scheduler, device, link, close } = await setup(1000);
    try {
      let disconnectAt = Number.NaN;
      fake.on('disconnect', (c) => {
        disconnectAt = scheduler.nowMs();
        if (c.name === 'disconnect') setImmediate(() => fake.sendEvent({ kind: 'disconnectionComplete', status: 0, handle: c.params.handle, reason: c.params.reason }).catch(() => undefined));
        return { kind: 'status', status: 0 };
      });
      const lostAt = scheduler.nowMs();
      link.lose();
      const aclBefore = fake.acl.length;
      link.sendL2cap(4, Uint8Array.of(9));
      await fake.sendL2cap(0x40, 4, Uint8Array.of(1));
      await fake.waitForCommand('disconnect');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(fake.acl.length, aclBefore, 'nothing sent on a lost link');
      assert.deepEqual(device.received, [], 'nothing delivered from a lost link');
      assert.ok(disconnectAt - lostAt >= 4000, `terminated ${disconnectAt - lostAt} modelled ms after the loss`);
      assert.deepEqual(disconnectReasons(fake), [0x08]);
      assert.deepEqual(device.disconnects, [0x08]);
    } finally {
      await close();
    }
  });

  it('vanish(): the device is not told; advertising again ends the silent link at once with 0x08', async () => {
    // Real time: the 4 s supervision timeout would not pass during the test.
    const { fake, device, link, close } = await setup(1);
    try {
      link.vanish();
      await settle();
      assert.deepEqual(disconnectReasons(fake), []);
      const mark = fake.commands.length;
      device.adv = { ...(device.adv as AdvertisingParams), address: parseAddress('F0:0D:C0:DE:00:02', 'random') };
      device.radio?.advertisingChanged();
      await fake.waitForCommand('leSetAdvertisingEnable', mark);
      const names = fake.commands.slice(mark).map((c) => c.name);
      assert.ok(names.indexOf('disconnect') >= 0 && names.indexOf('disconnect') < names.indexOf('leSetRandomAddress'), names.join(' '));
      assert.deepEqual(disconnectReasons(fake), [0x08]);
      assert.deepEqual(device.disconnects, [], 'a vanished device hears nothing of the link');
    } finally {
      await close();
    }
  });

  it('disconnect(reason) from the device terminates with that reason; the device hears 0x16', async () => {
    const { fake, device, link, close } = await setup(1);
    try {
      link.disconnect(0x13);
      await fake.waitForCommand('disconnect');
      await settle();
      assert.deepEqual(disconnectReasons(fake), [0x13]);
      assert.deepEqual(device.disconnects, [0x16]);
    } finally {
      await close();
    }
  });
});
