/**
 * `auto:<port>`: find out what the board on a serial port speaks, then open it with the right
 * backend. An HCI Reset goes out first (an HCI controller answers with an event; Nordic's
 * connectivity firmware drops bytes outside SLIP frames); silence or H5 frames mean connectivity
 * firmware is worth trying, and the nrf: backend then brings up the link or diagnoses why not.
 */
import { realClock, type Clock } from '../common/clock.js';
import type { Adapter } from '../ble/types.js';
import { BledfuError } from '../common/errors.js';
import { RecordingDuplex } from '../transport/recordingDuplex.js';
import { DEFAULT_SERIAL_SETTINGS, openSerialPort } from '../transport/serial.js';
import type { HciAdapterOptions } from './hci/adapter.js';
import { openHciSerialAdapter } from './hci/serial.js';
import type { NrfAdapterOptions } from './nrf/adapter.js';
import { openNrfSerialAdapter, portInfo } from './nrf/open.js';
import { backendForReply, classifyPortReply, describePortReply, HCI_RESET_H4, replyIsConclusive, type PortReply } from './probe.js';
import type { AutoSerialSpec } from './serialSpec.js';

/** How long a controller gets to answer the probe's HCI Reset. */
const PROBE_MS = 500;

export type AutoAdapterOptions = Omit<HciAdapterOptions, 'kind'> & Omit<NrfAdapterOptions, 'kind' | 'api'>;

/** Sends an HCI Reset and classifies what comes back. */
export async function probeSerialPort(spec: AutoSerialSpec, clock: Clock, signal?: AbortSignal): Promise<PortReply> {
  const port = await openSerialPort({ path: spec.path, baudRate: spec.baudRate, rtscts: spec.rtscts ?? false, dtr: true, clock }, signal);
  const tap = new RecordingDuplex(port, 256, clock);
  try {
    await port.write(HCI_RESET_H4);
    return classifyPortReply(await tap.waitForRecording(replyIsConclusive, PROBE_MS, signal));
  } finally {
    tap.release();
    await tap.close();
  }
}

export async function openAutoSerialAdapter(spec: AutoSerialSpec, options: AutoAdapterOptions, signal?: AbortSignal): Promise<Adapter> {
  const reply = await probeSerialPort(spec, options.clock ?? realClock, signal);
  const backend = backendForReply(reply);
  const log = options.logger.child({ adapter: options.id });
  const maxConnections = spec.maxConnections ?? options.maxConnections;
  const common = { ...options, ...(maxConnections === undefined ? {} : { maxConnections }) };
  if (backend === 'hci') {
    log.debug({ port: spec.path }, 'auto: an HCI controller answers; opening it as hci:');
    return openHciSerialAdapter(
      {
        path: spec.path,
        baudRate: spec.baudRate,
        rtscts: spec.rtscts ?? DEFAULT_SERIAL_SETTINGS.rtscts,
        ...(spec.capture === undefined ? {} : { capture: spec.capture }),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      },
      common,
      signal,
    );
  }
  if (backend === 'nrf') {
    log.debug({ port: spec.path, reply: reply.kind }, 'auto: no HCI controller; trying Nordic connectivity firmware (nrf:)');
    return openNrfSerialAdapter(
      { path: spec.path, baudRate: spec.baudRate, rtscts: spec.rtscts ?? false, ...(spec.api === undefined ? {} : { api: spec.api }) },
      common,
      signal,
    );
  }
  const port = await portInfo(spec.path);
  throw new BledfuError(
    'SERIAL_WRONG_PROTOCOL',
    `${spec.path} speaks neither HCI nor Nordic's connectivity protocol: ${describePortReply(reply)}${port?.known === undefined ? '' : ` (${port.known.name})`}`,
    {
      layer: 'backend',
      remedy:
        reply.kind === 'text'
          ? "it runs a shell or console firmware: pick the board's other serial port, or flash Zephyr's hci_uart (hci:) or Nordic connectivity firmware 4.1.4 (nrf:)"
          : `check the baud rate (baud=${spec.baudRate}; both firmwares usually run at 1000000) and the cable, then unplug and replug the board`,
      facts: { context: { port: spec.path, reply: reply.kind } },
    },
  );
}
