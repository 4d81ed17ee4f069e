/** `bledfu scan` */
import { Advertisement, decodeError, type Advertisement as AdvertisementMessage, type ScanFilter } from '../../ts/index.js';
import { parseNumber, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationFromSeconds } from '../format.js';

/** HCI's "RSSI not available" (Core Vol 4, Part E, 7.7.65.2); emulated controllers always send it. */
const RSSI_NOT_AVAILABLE = 127;

export interface ScanFlags {
  readonly name?: string;
  readonly prefix?: string;
  readonly address?: string;
  readonly service?: string;
  readonly minRssi?: string;
  readonly duration: string;
  readonly dfuOnly?: boolean;
  readonly active?: boolean;
  readonly duplicates?: boolean;
  readonly adapter?: string;
}

/** The flags as a filter and a duration in seconds (0 = until Ctrl-C). */
export function scanSettings(flags: ScanFlags): { readonly filter: ScanFilter; readonly seconds: number } {
  const seconds = parseNumber('--duration', flags.duration, 0, 86_400) ?? 10;
  const minRssi = parseNumber('--min-rssi', flags.minRssi, -127, 20);
  return {
    seconds,
    filter: {
      name: flags.name ?? '',
      namePrefix: flags.prefix ?? '',
      address: flags.address ?? '',
      serviceUuid: flags.service ?? '',
      minRssi,
      dfuBootloaderOnly: flags.dfuOnly === true,
    },
  };
}

export function rssiText(rssi: number): string {
  return rssi === RSSI_NOT_AVAILABLE ? 'n/a' : `${rssi} dBm`;
}

export function advertisementLine(ad: AdvertisementMessage): string {
  const tags = [ad.dfuBootloader ? 'DFU' : '', ad.connectable ? '' : 'non-connectable'].filter(Boolean).join(',');
  return `${ad.address?.value ?? '?'}  ${ad.rssi === RSSI_NOT_AVAILABLE ? ' n/a    ' : `${String(ad.rssi).padStart(4)} dBm`}  ${ad.name || '(no name)'}${tags === '' ? '' : `  [${tags}]`}${ad.serviceUuids.length > 0 ? `  ${ad.serviceUuids.join(' ')}` : ''}`;
}

export async function scanCommand(ctx: CliContext, flags: ScanFlags): Promise<ExitCode> {
  const { filter, seconds } = scanSettings(flags);
  // Ctrl-C ends a scan normally: it is how an open-ended scan is meant to stop.
  const stream = ctx.client.scan(
    {
      adapterId: flags.adapter ?? '',
      filter,
      duration: seconds === 0 ? undefined : durationFromSeconds(seconds),
      allowDuplicates: flags.duplicates === true,
      active: flags.active === true,
    },
    { signal: ctx.interrupted },
  );
  let count = 0;
  try {
    for await (const { advertisement: ad } of stream) {
      if (ad === undefined) continue;
      count++;
      ctx.out.line(advertisementLine(ad));
      ctx.out.record({ type: 'advertisement', advertisement: Advertisement.toJSON(ad) });
    }
  } catch (e) {
    if (!ctx.interrupted.aborted) return ctx.out.error(decodeError(e));
  }
  ctx.out.line(`${count} device(s)`);
  return EXIT.ok;
}
