/**
 * The code under test on the central side: our HCI adapter over a btvirt controller reached the
 * way a USB dongle is, through a serial port (a socat pty), with the real serial transport.
 */
import type { Adapter } from '../../../server/ble/types.js';
import { createHciAdapter } from '../../../server/backends/hci/adapter.js';
import type { Logger } from '../../../server/common/logger.js';
import { DEFAULT_SERIAL_SETTINGS, openSerialPort } from '../../../server/transport/serial.js';
import type { Emulator, PtyController } from './emulator.js';

export interface Central {
  readonly adapter: Adapter;
  readonly controller: PtyController;
  close(): Promise<void>;
}

export async function openCentral(emu: Emulator, logger: Logger): Promise<Central> {
  const controller = await emu.addController();
  const transport = await openSerialPort({ path: controller.path, ...DEFAULT_SERIAL_SETTINGS });
  const adapter = await createHciAdapter(transport, { id: 'btvirt0', spec: `hci:${controller.path}`, kind: 'hci-uart', logger });
  return {
    adapter,
    controller,
    close: async () => {
      await adapter.close();
      await controller.stop();
    },
  };
}
