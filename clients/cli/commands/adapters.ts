/** `bledfu adapters` */
import { Adapter, AddressSource, adapterKindToJSON, adapterStateToJSON, type Adapter as AdapterMessage } from '../../ts/index.js';
import { unary, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

/** One adapter; a failed one's error follows, and its remedy on a second line. */
export function adapterLine(a: AdapterMessage): string {
  const kind = adapterKindToJSON(a.kind).replace(/^ADAPTER_KIND_/, '').toLowerCase();
  const state = adapterStateToJSON(a.state).replace(/^ADAPTER_STATE_/, '').toLowerCase();
  // The remedy on a line of its own, as errors print it: text mode must tell what to fix, not only --json.
  const error =
    a.error === undefined ? '' : `  ${a.error.reason}: ${a.error.message}${a.error.remedy === '' ? '' : `\n  remedy: ${a.error.remedy}`}`;
  // A public address needs no note; another one says where it came from (the dongle has none of its own, or its chip's).
  const source =
    a.addressSource === AddressSource.ADDRESS_SOURCE_GENERATED ? ' (generated)' : a.addressSource === AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC ? ' (controller static)' : '';
  return `${a.id}  ${kind}  ${state}  ${a.address?.value ?? ''}${source}  links ${a.activeConnections}/${a.maxConnections}  ${a.spec}  ${a.identity}${error}`;
}

export async function adaptersCommand(ctx: CliContext): Promise<ExitCode> {
  const { adapters } = await ctx.client.listAdapters({}, unary(ctx));
  for (const a of adapters) {
    ctx.out.line(adapterLine(a));
    for (const w of a.workarounds) ctx.out.line(`  works around: ${w}`);
    ctx.out.record({ type: 'adapter', adapter: Adapter.toJSON(a) });
  }
  if (adapters.length === 0) ctx.out.line('no adapters');
  return EXIT.ok;
}
