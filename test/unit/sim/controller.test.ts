/**
 * The virtual controller at the H4 byte level: command in, exact event bytes out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fromHex, toHex } from '../../../server/common/bytes.js';
import { H4Parser } from '../../../server/transport/h4.js';
import type { ByteDuplex } from '../../../server/transport/types.js';
import { createSimWorld, type SimWorld } from '../../../server/sim/world.js';

class RawHost {
  readonly #parser = new H4Parser();
  readonly #queue: string[] = [];
  readonly #waiters: ((s: string) => void)[] = [];
  constructor(readonly transport: ByteDuplex) {
    void (async () => {
      try {
        for await (const chunk of transport.readable()) {
          for (const p of this.#parser.feed(chunk)) {
            const hex = `${p.type === 'event' ? '04' : '02'} ${toHex(p.bytes, ' ')}`;
            if (process.env.H4DEBUG) console.log(hex);
            const w = this.#waiters.shift();
            if (w) w(hex);
            else this.#queue.push(hex);
          }
        }
      } catch {
        /* closed */
      }
    })();
  }
  send(hex: string): Promise<void> {
    return this.transport.write(fromHex(hex));
  }
  next(): Promise<string> {
    const q = this.#queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  async until(prefix: string): Promise<string> {
    for (;;) {
      const p = await this.next();
      if (p.startsWith(prefix)) return p;
    }
  }
}

describe('VirtualController (H4)', () => {
  let world: SimWorld;
  let host: RawHost;
  before(() => {
    world = createSimWorld({});
    host = new RawHost(world.openHostTransport());
  });
  after(() => world.close());

  it('answers Reset, Read BD_ADDR, LE Read Buffer Size and unknown commands byte for byte', async () => {
    await host.send('01 03 0c 00');
    assert.equal(await host.next(), '04 0e 04 01 03 0c 00');
    await host.send('01 09 10 00');
    assert.equal(await host.next(), '04 0e 0a 01 09 10 00 01 00 f0 dc 1b 00');
    await host.send('01 02 20 00');
    assert.equal(await host.next(), '04 0e 07 01 02 20 00 fb 00 08');
    await host.send('01 03 20 00');
    assert.equal(await host.next(), '04 0e 0c 01 03 20 00 20 01 00 00 00 00 00 00');
    await host.send('01 01 10 00');
    assert.equal(await host.next(), '04 0e 0c 01 01 10 00 09 01 00 09 ff ff 01 00');
    await host.send('01 ff fc 00');
    assert.equal(await host.next(), '04 0e 04 01 ff fc 01');
  });

  it('scans (advertising reports with the device address and RSSI) and connects', async () => {
    // LE Meta events are off by default (Core Vol 4, Part E, 7.3.1): enable them first.
    await host.send('01 01 0c 08 ff ff ff ff ff ff ff 3f');
    assert.equal(await host.next(), '04 0e 04 01 01 0c 00');
    await host.send('01 0b 20 07 01 10 00 10 00 00 00'); // active scan
    assert.equal(await host.next(), '04 0e 04 01 0b 20 00');
    await host.send('01 0c 20 02 01 00');
    assert.equal(await host.next(), '04 0e 04 01 0c 20 00');
    // LE Advertising Report: ADV_IND, random, F0:0D:C0:DE:00:01 (LSB first), then data, RSSI -40 (0xd8).
    const report = await host.until('04 3e');
    assert.match(report, /^04 3e .. 02 01 00 01 01 00 de c0 0d f0 /);
    assert.ok(report.endsWith(' d8'));
    await host.send('01 0c 20 02 00 00');
    await host.until('04 0e 04 01 0c 20 00');
    // LE Create Connection: 7.5 ms interval (6), 4 s timeout (400).
    await host.send('01 0d 20 19 60 00 60 00 00 01 01 00 de c0 0d f0 00 06 00 06 00 00 00 90 01 00 00 00 00');
    assert.equal(await host.until('04 0f'), '04 0f 04 00 01 0d 20');
    const complete = await host.until('04 3e 13 01');
    assert.equal(complete, '04 3e 13 01 00 40 00 00 01 01 00 de c0 0d f0 06 00 00 00 90 01 00');
    // The simulated bootloader is not running: the application sends nothing unprompted. An ATT
    // Exchange MTU request gets the application's answer (247) on CID 4, and a credit back.
    await host.send('02 40 00 07 00 03 00 04 00 02 f7 00');
    // The credit comes back at the connection event that carried the request; the answer
    // follows at the next one.
    assert.equal(await host.next(), '04 13 05 01 40 00 01 00');
    assert.equal(await host.next(), '02 40 20 07 00 03 00 04 00 03 f7 00');
    // Disconnect: Command Status, then Disconnection Complete with 0x16 (local host).
    await host.send('01 06 04 03 40 00 13');
    assert.equal(await host.until('04 0f'), '04 0f 04 00 01 06 04');
    assert.equal(await host.until('04 05'), '04 05 04 00 40 00 16');
  });
});
