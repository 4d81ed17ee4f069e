/** `bledfu adapters` */
import { Adapter, adapterKindToJSON, adapterStateToJSON } from '../../ts/index.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

export async function adaptersCommand(ctx: CliContext): Promise<ExitCode> {
  const { adapters } = await ctx.client.listAdapters({}, { signal: ctx.forced });
  for (const a of adapters) {
    const kind = adapterKindToJSON(a.kind).replace(/^ADAPTER_KIND_/, '').toLowerCase();
    const state = adapterStateToJSON(a.state).replace(/^ADAPTER_STATE_/, '').toLowerCase();
    const error = a.error === undefined ? '' : `  ${a.error.reason}: ${a.error.message}`;
    ctx.out.line(
      `${a.id}  ${kind}  ${state}  ${a.address?.value ?? ''}  links ${a.activeConnections}/${a.maxConnections}  ${a.spec}  ${a.identity}${error}`,
    );
    ctx.out.record({ type: 'adapter', adapter: Adapter.toJSON(a) });
  }
  if (adapters.length === 0) ctx.out.line('no adapters');
  return EXIT.ok;
}
