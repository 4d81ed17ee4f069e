/** `bledfu ports`: the serial ports of the server's host, to pick a dongle for an adapter spec. */
import { SerialPort, type SerialPort as SerialPortMessage } from '../../ts/index.js';
import { unary, type CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exitCodes.js';

export const NO_PORTS = 'no serial ports on the server\'s host (a container needs --device)';

export function portLine(p: SerialPortMessage): string {
  const usb = p.vendorId === '' ? '' : `${p.vendorId}:${p.productId}`;
  const what = [p.manufacturer, p.product].filter((s) => s !== '').join(' ');
  const known = p.knownName === '' ? '' : `  [${p.knownName}: ${p.hint}]`;
  return [p.byIdPath || p.path, usb, what, p.serialNumber === '' ? '' : `serial ${p.serialNumber}`].filter((s) => s !== '').join('  ') + known;
}

export async function portsCommand(ctx: CliContext): Promise<ExitCode> {
  const { ports } = await ctx.client.listSerialPorts({}, unary(ctx));
  for (const p of ports) {
    ctx.out.line(portLine(p));
    ctx.out.record({ type: 'serialPort', port: SerialPort.toJSON(p) });
  }
  if (ports.length === 0) ctx.out.line(NO_PORTS);
  return EXIT.ok;
}
