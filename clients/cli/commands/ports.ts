/** `bledfu ports`: the serial ports of the server's host, to pick a dongle for an adapter spec. */
import { SerialPort } from '../../ts/index.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

export async function portsCommand(ctx: CliContext): Promise<ExitCode> {
  const { ports } = await ctx.client.listSerialPorts({}, { signal: ctx.forced });
  for (const p of ports) {
    const usb = p.vendorId === '' ? '' : `${p.vendorId}:${p.productId}`;
    const what = [p.manufacturer, p.product].filter((s) => s !== '').join(' ');
    const known = p.knownName === '' ? '' : `  [${p.knownName}: ${p.hint}]`;
    ctx.out.line([p.byIdPath || p.path, usb, what, p.serialNumber === '' ? '' : `serial ${p.serialNumber}`].filter((s) => s !== '').join('  ') + known);
    ctx.out.record({ type: 'serialPort', port: SerialPort.toJSON(p) });
  }
  if (ports.length === 0) ctx.out.line('no serial ports on the server\'s host (a container needs --device)');
  return EXIT.ok;
}
