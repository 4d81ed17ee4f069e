/** `bledfu inventory`: the devices in range and what each is, to find units stranded in DFU mode. */
import { decodeError, deviceKindName, inBootloader, InventoryDevice, takeInventory, type InventoryDevice as InventoryDeviceMessage } from '../../ts/index.js';
import { parseNumber, unary, UsageError, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { rssiText } from './scan.js';

export interface InventoryFlags {
  readonly adapter?: readonly string[];
  readonly for?: string;
  readonly probe?: boolean;
  readonly namePrefix?: string;
  readonly minRssi?: string;
}

/** "3", "3s", "1.5s", "500ms" as seconds; the server checks the range (0.1 to 60 s). */
export function parseListenTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(text);
  if (m === null) throw new UsageError(`--for takes a time such as 3s, 1.5s or 500ms, got "${text}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : n;
}

/** The cells of one table row: address, RSSI, kind, name, application address, DIS serial / firmware, notes. */
function row(d: InventoryDeviceMessage): string[] {
  const app = d.applicationAddress === undefined ? '' : `${d.applicationAddress.value}${d.applicationAddressKnown ? '' : '?'}`;
  const info = d.deviceInfo;
  const dis = info === undefined ? '' : [info.serialNumber, info.firmwareRevision].filter((x) => x !== '').join(' / ');
  const notes = [
    d.busyJobId === '' ? '' : `being updated by job ${d.busyJobId}`,
    d.probeError === undefined ? '' : `not probed: ${d.probeError.reason}: ${d.probeError.message}`,
    d.connectable ? '' : 'non-connectable',
  ].filter((x) => x !== '');
  return [d.address?.value ?? '?', rssiText(d.rssi), deviceKindName(d), d.name === '' ? '(no name)' : d.name, app, dis, notes.join('; ')];
}

const HEADER = ['ADDRESS', 'RSSI', 'KIND', 'NAME', 'APP ADDRESS', 'SERIAL / FIRMWARE', ''];

/** The table, columns padded to their widest cell; the last column is not padded. */
export function inventoryTable(devices: readonly InventoryDeviceMessage[]): string[] {
  const rows = [HEADER, ...devices.map(row)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The line under the table: how many devices, and what to do about the ones in DFU mode. */
export function inventorySummary(devices: readonly InventoryDeviceMessage[], truncated: boolean): string {
  const total = `${devices.length} device${devices.length === 1 ? '' : 's'}${truncated ? ' (more were in range: the list was cut)' : ''}`;
  const stranded = inBootloader(devices).filter((d) => d.busyJobId === '');
  if (stranded.length === 0) return `${total}; none waiting in DFU mode`;
  const guessed = stranded.some((d) => d.applicationAddress !== undefined && !d.applicationAddressKnown);
  return (
    `${total}; ${stranded.length} in DFU mode: run \`bledfu dfu <package.zip> --address <app address>\` to finish them` +
    (guessed ? ' (an app address marked ? is a guess: the bootloader address - 1)' : '')
  );
}

export async function inventoryCommand(ctx: CliContext, flags: InventoryFlags): Promise<ExitCode> {
  const durationSeconds = parseListenTime(flags.for);
  const minRssi = parseNumber('--min-rssi', flags.minRssi, -127, 20);
  try {
    // The first Ctrl-C ends it (nothing to clean up on this side: the server disconnects its probes).
    const response = await takeInventory(
      ctx.client,
      {
        ...(flags.adapter === undefined ? {} : { adapterIds: flags.adapter }),
        ...(durationSeconds === undefined ? {} : { durationSeconds }),
        probe: flags.probe === true,
        ...(flags.namePrefix === undefined && minRssi === undefined
          ? {}
          : { filter: { ...(flags.namePrefix === undefined ? {} : { namePrefix: flags.namePrefix }), ...(minRssi === undefined ? {} : { minRssi }) } }),
      },
      { ...unary(ctx), signal: ctx.interrupted },
    );
    for (const line of inventoryTable(response.devices)) ctx.out.line(line);
    ctx.out.line(inventorySummary(response.devices, response.truncated));
    for (const d of response.devices) ctx.out.record({ type: 'inventoryDevice', device: InventoryDevice.toJSON(d) });
    ctx.out.record({
      type: 'inventorySummary',
      devices: response.devices.length,
      inDfuMode: inBootloader(response.devices).filter((d) => d.busyJobId === '').length,
      truncated: response.truncated,
    });
    return EXIT.ok;
  } catch (e) {
    return ctx.out.error(decodeError(e));
  }
}
