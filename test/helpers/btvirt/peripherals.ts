/**
 * Simulated nRF5 devices as peripherals on btvirt controllers, one controller each, either in
 * this process or in a process of their own (server/simbridge/main.ts), behind one interface.
 * Out of process, the devices' CPU is not the test's: what a benchmark needs to tell apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../../server/common/logger.js';
import type { SimFault } from '../../../server/sim/faults.js';
import type { SimDeviceConfig } from '../../../server/sim/world.js';
import { startStation, type StationDeviceStatus } from '../../../server/simbridge/station.js';
import type { ByteDuplex } from '../../../server/transport/types.js';
import type { Emulator } from './emulator.js';

export interface SimPeripherals {
  status(): Promise<StationDeviceStatus[]>;
  /** Arms a fault; the returned function disarms it and tells how often it fired. */
  inject(fault: SimFault): Promise<() => Promise<number>>;
  /** CPU used by the process running the devices (this one when in process). */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  close(): Promise<void>;
}

export interface SimPeripheralsOptions {
  readonly devices: readonly Partial<SimDeviceConfig>[];
  /** Modelled time per real time for flash and boot (default 50). */
  readonly speed?: number;
  readonly outOfProcess?: boolean;
  readonly logger: Logger;
}

const DEFAULT_SPEED = 50;

export async function startSimPeripherals(emu: Emulator, options: SimPeripheralsOptions): Promise<SimPeripherals> {
  return options.outOfProcess === true ? startOutOfProcess(emu, options) : startInProcess(emu, options);
}

async function startInProcess(emu: Emulator, options: SimPeripheralsOptions): Promise<SimPeripherals> {
  const transports: ByteDuplex[] = [];
  try {
    for (let i = 0; i < options.devices.length; i++) transports.push((await emu.connectController()).transport);
    const station = await startStation({ transports, devices: options.devices, speed: options.speed ?? DEFAULT_SPEED }, options.logger);
    return {
      status: () => Promise.resolve(station.status()),
      inject: (fault) => {
        const handle = station.inject(fault);
        return Promise.resolve(() => {
          handle.remove();
          return Promise.resolve(handle.fired);
        });
      },
      cpuUsage: () => Promise.resolve(process.cpuUsage()),
      close: () => station.close(),
    };
  } catch (e) {
    await Promise.all(transports.map((t) => t.close()));
    throw e;
  }
}

interface Reply {
  readonly id?: number;
  readonly ok?: boolean;
  readonly event?: string;
  readonly result?: unknown;
  readonly devices?: StationDeviceStatus[];
  readonly error?: { readonly code: string; readonly message: string };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function startOutOfProcess(emu: Emulator, options: SimPeripheralsOptions): Promise<SimPeripherals> {
  const entry = fileURLToPath(new URL('../../../server/simbridge/main.ts', import.meta.url));
  const config = {
    controllers: options.devices.map(() => emu.socketPath),
    devices: options.devices,
    speed: options.speed ?? DEFAULT_SPEED,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', entry, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.once('error', () => undefined);
  const waiting = new Map<number, (reply: Reply) => void>();
  let onReady: ((reply: Reply) => void) | undefined;
  const gone = exited(child);
  void gone.then(() => {
    const failure: Reply = { ok: false, error: { code: 'INTERNAL', message: `simbridge exited (${child.exitCode ?? child.signalCode}): ${stderr}` } };
    for (const resolve of waiting.values()) resolve(failure);
    waiting.clear();
    onReady?.(failure);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return;
    }
    if (reply.event === 'ready') onReady?.(reply);
    else if (reply.id !== undefined) {
      waiting.get(reply.id)?.(reply);
      waiting.delete(reply.id);
    }
  });
  const ready = await new Promise<Reply>((resolve) => (onReady = resolve));
  onReady = undefined;
  if (ready.event !== 'ready') {
    await stopChild(child, gone);
    throw new Error(ready.error?.message ?? 'simbridge did not start');
  }

  let nextId = 1;
  const request = async (op: Record<string, unknown>): Promise<unknown> => {
    const id = nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      waiting.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ id, ...op })}\n`);
    });
    if (reply.ok !== true) throw new Error(`simbridge ${String(op.op)}: ${reply.error?.message ?? 'failed'}`);
    return reply.result;
  };
  let closed = false;
  return {
    status: async () => (await request({ op: 'status' })) as StationDeviceStatus[],
    inject: async (fault) => {
      const { faultId } = (await request({ op: 'inject', fault })) as { faultId: number };
      return async () => ((await request({ op: 'removeFault', faultId })) as { fired: number }).fired;
    },
    cpuUsage: async () => (await request({ op: 'cpu' })) as NodeJS.CpuUsage,
    close: async () => {
      if (closed) return;
      closed = true;
      await request({ op: 'close' }).catch(() => undefined);
      await stopChild(child, gone);
    },
  };
}

/** Ends stdin (the bridge closes and exits), then SIGTERM and SIGKILL if it lingers. */
async function stopChild(child: ChildProcess, gone: Promise<void>): Promise<void> {
  child.stdin?.end();
  const term = setTimeout(() => child.kill('SIGTERM'), 2_000);
  const kill = setTimeout(() => child.kill('SIGKILL'), 4_000);
  await gone;
  clearTimeout(term);
  clearTimeout(kill);
}
