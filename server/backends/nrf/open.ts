/**
 * `nrf:<port>` adapters: an nRF52 board running Nordic's connectivity firmware behind a serial
 * port, opened as pc-ble-driver opens it (spec §1.2): 1 Mbaud 8N1, no flow control unless asked,
 * DTR asserted (the dongle's USB build neither reads nor writes without it), a pause before the
 * first write, then the H5 link. A link that never comes up is diagnosed (attach.ts).
 */
import type { Adapter } from '../../ble/types.js';
import { realClock } from '../../common/clock.js';
import { listSerialPorts, type SerialPortInfo } from '../../transport/ports.js';
import { openSerialPort } from '../../transport/serial.js';
import type { NrfSerialSpec } from '../serialSpec.js';
import type { NrfAdapterOptions } from './adapter.js';
import { attachNrfAdapter } from './attach.js';

/** J-Link OB interface chips lose what is written right after opening (pc-ble-driver waits this long). */
const OPEN_SETTLE_MS = 200;

export async function portInfo(path: string): Promise<SerialPortInfo | undefined> {
  const ports = await listSerialPorts().catch(() => []);
  return ports.find((p) => p.path === path || p.byIdPath === path);
}

export async function openNrfSerialAdapter(
  serial: NrfSerialSpec,
  options: Omit<NrfAdapterOptions, 'kind' | 'api'>,
  signal?: AbortSignal,
): Promise<Adapter> {
  const clock = options.clock ?? realClock;
  const port = await openSerialPort({ path: serial.path, baudRate: serial.baudRate, rtscts: serial.rtscts, dtr: true, clock }, signal);
  try {
    await clock.sleep(OPEN_SETTLE_MS, signal);
  } catch (e) {
    await port.close();
    throw e;
  }
  const maxConnections = serial.maxConnections ?? options.maxConnections;
  return attachNrfAdapter(
    port,
    { where: serial.path, specPath: serial.path, portInfo: () => portInfo(serial.path) },
    {
      ...options,
      kind: 'nordic-connectivity',
      ...(serial.api === undefined ? {} : { api: serial.api }),
      ...(maxConnections === undefined ? {} : { maxConnections }),
    },
    signal,
  );
}
