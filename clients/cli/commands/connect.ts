/** `bledfu connect`: shows the GATT layout, then waits for the link to drop or Ctrl-C. */
import { characteristicPropertyToJSON, ConnectResponse, decodeError } from '../../ts/index.js';
import { parseNumber, targetFrom, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';
import { durationFromSeconds } from '../format.js';

export interface ConnectFlags {
  readonly address?: string;
  readonly name?: string;
  readonly adapter?: string;
  readonly mtu?: string;
  readonly scanTimeout?: string;
  readonly once?: boolean;
}

export async function connectCommand(ctx: CliContext, flags: ConnectFlags): Promise<ExitCode> {
  const target = targetFrom(flags);
  const scan = parseNumber('--scan-timeout', flags.scanTimeout, 0.1, 3600);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.interrupted, stop.signal]);
  const stream = ctx.client.connect(
    {
      adapterId: flags.adapter ?? '',
      target,
      scanTimeout: scan === undefined ? undefined : durationFromSeconds(scan),
      mtu: parseNumber('--mtu', flags.mtu, 23, 517) ?? 0,
    },
    { signal },
  );
  try {
    for await (const r of stream) {
      // An event kind newer than this client is not a record (as job events of unknown kinds are skipped).
      if (r.event !== undefined) ctx.out.record({ ...(ConnectResponse.toJSON(r) as Record<string, unknown>), type: r.event.$case });
      switch (r.event?.$case) {
        case 'connected': {
          const c = r.event.connected;
          const p = c.parameters;
          ctx.out.line(
            `connected to ${c.address?.value ?? '?'}: MTU ${c.mtu}` +
              (p === undefined ? '' : `, interval ${p.intervalUs / 1000} ms, latency ${p.peripheralLatency}, timeout ${p.supervisionTimeoutMs} ms`),
          );
          for (const s of c.services) {
            ctx.out.line(`  service ${s.uuid}  handles ${s.startHandle}..${s.endHandle}`);
            for (const ch of s.characteristics) {
              const props = ch.properties.map((x) => characteristicPropertyToJSON(x).replace(/^CHARACTERISTIC_PROPERTY_/, '').toLowerCase());
              ctx.out.line(`    characteristic ${ch.uuid}  value handle ${ch.valueHandle}  ${props.join(',')}`);
            }
          }
          if (flags.once === true) {
            stop.abort();
            return EXIT.ok;
          }
          ctx.out.line('connected; Ctrl-C disconnects');
          break;
        }
        case 'disconnected':
          ctx.out.line(`disconnected: ${r.event.disconnected.reasonText}`);
          return EXIT.linkOrAdapter;
        case undefined:
          break;
      }
    }
    return EXIT.ok;
  } catch (e) {
    if (signal.aborted) return EXIT.ok;
    return ctx.out.error(decodeError(e));
  }
}
