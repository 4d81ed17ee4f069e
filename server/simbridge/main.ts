/**
 * Simulated nRF5 devices on real controllers, as a process of their own, so that a benchmark
 * can tell the server's CPU from the devices'. Usage:
 *
 *   node server/simbridge/main.js '<config JSON>'
 *
 * config: { "controllers": ["<unix socket path>" | "<host>:<port>", …],
 *           "devices": [{ "address": "F0:0D:C0:DE:00:01", … }, …],   (as many as controllers)
 *           "speed": 50 }
 *
 * Control is JSON lines: requests on stdin, answers (and one {"event":"ready"}) on stdout, logs
 * on stderr. Requests: {"id":1,"op":"status"} | {"id":2,"op":"inject","fault":{…SimFault}} →
 * {"faultId":n} | {"id":3,"op":"removeFault","faultId":n} | {"id":4,"op":"cpu"} |
 * {"id":5,"op":"close"}. The process also closes when stdin ends.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { BledfuError, isBledfuError } from '../common/errors.js';
import type { FaultHandle, SimFault } from '../sim/faults.js';
import type { SimDeviceConfig } from '../sim/world.js';
import { openSocketTransport, parseSocketTarget } from '../transport/socket.js';
import type { ByteDuplex } from '../transport/types.js';
import { startStation, type Station } from './station.js';

interface BridgeConfig {
  readonly controllers: readonly string[];
  readonly devices: readonly Partial<SimDeviceConfig>[];
  readonly speed: number;
}

interface Request {
  readonly id: unknown;
  readonly op: unknown;
  readonly fault?: unknown;
  readonly faultId?: unknown;
}

function invalid(message: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'sim', remedy: 'see the usage at the top of server/simbridge/main.ts' });
}

function parseConfig(text: string | undefined): BridgeConfig {
  if (text === undefined) throw invalid('missing the config JSON argument');
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== 'object' || raw === null) throw invalid('the config must be a JSON object');
  const c = raw as Record<string, unknown>;
  const controllers = c.controllers;
  if (!Array.isArray(controllers) || !controllers.every((x) => typeof x === 'string')) throw invalid('controllers must be a list of strings');
  const devices = c.devices ?? controllers.map(() => ({}));
  if (!Array.isArray(devices) || !devices.every((d) => typeof d === 'object' && d !== null)) throw invalid('devices must be a list of objects');
  const speed = c.speed ?? 50;
  if (typeof speed !== 'number') throw invalid('speed must be a number');
  return { controllers: controllers as string[], devices: devices as Partial<SimDeviceConfig>[], speed };
}

function write(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function errorOf(e: unknown): Record<string, unknown> {
  return isBledfuError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: String(e) };
}

async function main(): Promise<number> {
  const logger = pino({ level: process.env.BLEDFU_LOG_LEVEL ?? 'warn', base: { service: 'simbridge' } }, pino.destination(2));
  let config: BridgeConfig;
  try {
    config = parseConfig(process.argv[2]);
  } catch (e) {
    process.stderr.write(`simbridge: ${isBledfuError(e) ? e.message : String(e)}\n`);
    return 2;
  }
  const transports: ByteDuplex[] = [];
  let station: Station;
  try {
    for (const c of config.controllers) transports.push(await openSocketTransport(parseSocketTarget(c)));
    station = await startStation({ transports, devices: config.devices, speed: config.speed }, logger);
  } catch (e) {
    await Promise.all(transports.map((t) => t.close()));
    process.stderr.write(`simbridge: ${isBledfuError(e) ? e.message : String(e)}\n`);
    return 1;
  }
  write({ event: 'ready', devices: station.status() });

  const faults = new Map<number, FaultHandle>();
  let nextFaultId = 1;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= station.close());
  process.once('SIGTERM', () => void close());

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let request: Request;
    try {
      request = JSON.parse(line) as Request;
    } catch {
      write({ ok: false, error: { code: 'INVALID_ARGUMENT', message: 'not JSON' } });
      continue;
    }
    const id = request.id;
    try {
      switch (request.op) {
        case 'status':
          write({ id, ok: true, result: station.status() });
          break;
        case 'inject': {
          if (typeof request.fault !== 'object' || request.fault === null) throw invalid('inject needs a fault object');
          const handle = station.inject(request.fault as SimFault);
          const faultId = nextFaultId++;
          faults.set(faultId, handle);
          write({ id, ok: true, result: { faultId } });
          break;
        }
        case 'removeFault': {
          const handle = typeof request.faultId === 'number' ? faults.get(request.faultId) : undefined;
          if (handle === undefined) throw invalid('no such fault');
          handle.remove();
          faults.delete(request.faultId as number);
          write({ id, ok: true, result: { fired: handle.fired } });
          break;
        }
        case 'cpu':
          write({ id, ok: true, result: process.cpuUsage() });
          break;
        case 'close':
          await close();
          write({ id, ok: true });
          lines.close();
          break;
        default:
          throw invalid(`unknown op ${JSON.stringify(request.op)}`);
      }
    } catch (e) {
      write({ id, ok: false, error: errorOf(e) });
    }
  }
  await close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`simbridge: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
