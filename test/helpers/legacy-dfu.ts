/**
 * Legacy DFU (nRF5 SDK ≤ 11) pieces for tests of the simulated legacy devices: the init packet
 * nrfutil 0.5 writes (dfu_init_packet_t + CRC-16), and a small scripted client that drives a
 * legacy bootloader or application through bledfu's own host stack (Connection), step by step,
 * so each test can stop, break or misorder the procedure where it wants.
 */
import type { Connection, GattCharacteristic, Subscription } from '../../server/ble/types.js';
import { LEGACY_UUIDS } from '../../server/sim/devices/legacy/protocol.js';

export interface LegacyInitFields {
  readonly deviceType?: number;
  readonly deviceRevision?: number;
  readonly applicationVersion?: number;
  readonly softDevices?: readonly number[];
  readonly crc: number;
}

/** device_type, device_rev, application_version, softdevice_len, softdevice[], CRC-16: all LE (0xFFFF/0xFFFE wildcards by default). */
export function legacyInitPacket(f: LegacyInitFields): Uint8Array {
  const sds = f.softDevices ?? [0xfffe];
  const b = new Uint8Array(12 + 2 * sds.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, f.deviceType ?? 0xffff, true);
  v.setUint16(2, f.deviceRevision ?? 0xffff, true);
  v.setUint32(4, f.applicationVersion ?? 0xffffffff, true);
  v.setUint16(8, sds.length, true);
  sds.forEach((sd, i) => v.setUint16(10 + 2 * i, sd, true));
  v.setUint16(10 + 2 * sds.length, f.crc, true);
  return b;
}

export function sizePacket(sd: number, bl: number, app: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, sd, true);
  v.setUint32(4, bl, true);
  v.setUint32(8, app, true);
  return b;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The legacy DFU service of a connected device, its control point subscribed. */
export class LegacyClient {
  readonly conn: Connection;
  readonly controlPoint: GattCharacteristic;
  readonly packet: GattCharacteristic;
  /** Absent on SDK ≤ 6 bootloaders. */
  readonly revision: GattCharacteristic | undefined;
  readonly #sub: Subscription;

  private constructor(conn: Connection, cp: GattCharacteristic, packet: GattCharacteristic, revision: GattCharacteristic | undefined, sub: Subscription) {
    this.conn = conn;
    this.controlPoint = cp;
    this.packet = packet;
    this.revision = revision;
    this.#sub = sub;
  }

  /** Discovers the service; subscribes to the control point unless told not to. */
  static async open(conn: Connection, subscribe = true): Promise<LegacyClient> {
    const service = (await conn.discoverServices()).find((s) => s.uuid === LEGACY_UUIDS.service);
    const find = (uuid: string): GattCharacteristic => {
      const c = service?.characteristics.find((x) => x.uuid === uuid);
      if (c === undefined) throw new Error(`no ${uuid} in the legacy DFU service`);
      return c;
    };
    const cp = find(LEGACY_UUIDS.controlPoint);
    const sub = subscribe ? await conn.subscribe(cp, 'notify') : { receive: () => Promise.reject(new Error('not subscribed')), close: () => undefined, [Symbol.asyncIterator]: () => { throw new Error('not subscribed'); } };
    const revision = service?.characteristics.find((x) => x.uuid === LEGACY_UUIDS.revision);
    return new LegacyClient(conn, cp, find(LEGACY_UUIDS.packet), revision, sub as Subscription);
  }

  /** The DFU Revision; undefined when the service has no such characteristic (SDK ≤ 6). */
  async readRevision(): Promise<number | undefined> {
    if (this.revision === undefined) return undefined;
    const v = await this.conn.read(this.revision.valueHandle);
    return (v[0] ?? 0) | ((v[1] ?? 0) << 8);
  }

  cp(...bytes: number[]): Promise<void> {
    return this.conn.write(this.controlPoint.valueHandle, Uint8Array.from(bytes));
  }

  /**
   * A control point write after which the device hangs up (Start DFU on an application, Activate
   * and reset, System reset): the device disconnects as soon as it handles the write, so its Write
   * Response may or may not make it out first, and a lost link is what success looks like.
   */
  async cpThenDisconnect(...bytes: number[]): Promise<void> {
    await this.cp(...bytes).catch((e: unknown) => {
      if ((e as { code?: string }).code !== 'LINK_LOST') throw e;
    });
    if (this.conn.closed.aborted) return;
    await new Promise<void>((resolve) => this.conn.closed.addEventListener('abort', () => resolve(), { once: true }));
  }

  data(bytes: Uint8Array): Promise<void> {
    return this.conn.writeWithoutResponse(this.packet.valueHandle, bytes);
  }

  /** The next notification, as hex. */
  async next(): Promise<string> {
    return hex(await this.#sub.receive());
  }

  /** Start DFU with the image type and the size packet; the answer (hex). */
  async start(imageType: number, sd: number, bl: number, app: number): Promise<string> {
    await this.cp(0x01, imageType);
    await this.data(sizePacket(sd, bl, app));
    return this.next();
  }

  /** Initialize DFU Parameters with the init packet; the answer (hex). */
  async init(dat: Uint8Array): Promise<string> {
    await this.cp(0x02, 0x00);
    for (let at = 0; at < dat.length; at += 20) await this.data(dat.subarray(at, at + 20));
    await this.cp(0x02, 0x01);
    return this.next();
  }

  /**
   * PRN every `prn` packets, Receive firmware, then `image` in 20-byte packets, waiting for each
   * PRN; resolves with the notification that ends it (10 03 01 or an error), as hex.
   */
  async sendFirmware(image: Uint8Array, prn: number, upTo = image.length): Promise<string> {
    await this.cp(0x08, prn & 0xff, prn >> 8);
    await this.cp(0x03);
    let sent = 0;
    for (let at = 0; at < upTo; at += 20) {
      await this.data(image.subarray(at, Math.min(at + 20, upTo)));
      sent++;
      if (at + 20 >= image.length) break;
      if (sent % prn === 0) {
        const n = await this.next();
        if (!n.startsWith('11')) return n;
      }
    }
    return upTo < image.length ? '' : this.next();
  }
}
