/**
 * USB ids of the boards people plug in to talk BLE, with a hint at which bledfu backend (or which
 * firmware to flash) fits. Sources are named per entry; an entry marked UNVERIFIED is a
 * well-known id that was not checked against a source for this table.
 */

export interface KnownUsbDevice {
  readonly name: string;
  readonly hint: string;
}

interface Entry {
  readonly vendorId: string;
  /** Absent: any product of that vendor (a fallback after the exact entries). */
  readonly productId?: string;
  /** Narrows an id two products share, by the USB product string. */
  readonly product?: RegExp;
  readonly device: KnownUsbDevice;
}

const ENTRIES: readonly Entry[] = [
  // Nordic's own desktop tools test exactly this pair for "in DFU bootloader"
  // (pc-nrfconnect-shared sdfuOperations isDeviceInDFUBootloader); shared/spec/nrf-connectivity.md §1.3.
  {
    vendorId: '1915',
    productId: '521f',
    device: {
      name: 'nRF52840 Dongle in its USB DFU bootloader (Open Bootloader)',
      hint:
        'it runs no radio firmware yet (red LED pulsing). Flash one with `nrfutil dfu usb-serial -pkg <package.zip> -p <port>`: ' +
        "Zephyr's hci_uart for hci:<port>, or Nordic connectivity firmware 4.1.x for nrf:<port>; " +
        'if a firmware is already on it, press RESET or replug to start it',
    },
  },
  // APP_USBD_PID 0xC00A in the connectivity build (shared/spec/nrf-connectivity.md §1.3). The
  // Power Profiler Kit II uses the same pair (many public udev rules for "PPK2" name 1915:c00a),
  // so the product string decides.
  {
    vendorId: '1915',
    productId: 'c00a',
    product: /ppk/i,
    device: { name: 'Nordic Power Profiler Kit II', hint: 'a power meter, not a Bluetooth adapter' },
  },
  {
    vendorId: '1915',
    productId: 'c00a',
    device: {
      name: 'Nordic connectivity firmware over native USB (nRF52840 Dongle / DK nRF USB port)',
      hint: 'use nrf:<port> (Nordic connectivity firmware speaks SoftDevice serialization, not HCI)',
    },
  },
  {
    vendorId: '1915',
    device: {
      name: 'Nordic Semiconductor USB device (application firmware)',
      hint: 'try hci:<port> for an HCI UART firmware or nrf:<port> for Nordic connectivity firmware; bledfu tells which protocol it hears',
    },
  },
  // Zephyr's docs: USB vendor id 0x2FE3, default product id 0x100 (doc/services/usb "USB Vendor and
  // Product identifiers"). Which PID the hci_uart sample uses over CDC ACM on the dongle: UNVERIFIED.
  {
    vendorId: '2fe3',
    productId: '0100',
    device: {
      name: 'Zephyr application with the default USB ids',
      hint: "use hci:<port> if it runs Zephyr's hci_uart (HCI over the CDC ACM port); a Zephyr shell answers with text instead",
    },
  },
  {
    vendorId: '2fe3',
    device: { name: 'Zephyr sample application', hint: 'use hci:<port> if it runs an HCI UART firmware (hci_uart)' },
  },
  // shared/spec/nrf-connectivity.md §1.3: 1366:xxxx with manufacturer "SEGGER" is a Nordic DK's
  // J-Link OB VCOM (pc-ble-driver's docs also run over the "Segger J-Link USB CDC UART"); the
  // product id varies with the OB firmware, so only the vendor is matched.
  {
    vendorId: '1366',
    device: {
      name: 'SEGGER J-Link (interface chip of an nRF development kit)',
      hint:
        "its VCOM port is the nRF chip's UART, the firmware decides: hci:<port> for Zephyr hci_uart (RTS/CTS on), nrf:<port> for Nordic connectivity firmware; " +
        'if packets over 64 bytes get lost, disable the J-Link Mass Storage Device (MSDDisable in J-Link Commander)',
    },
  },
  // shared/spec/nrf-connectivity.md §1.3: 0D28 with manufacturer "ARM"/"mbed" = DAPLink interface chip.
  {
    vendorId: '0d28',
    device: { name: 'Arm DAPLink interface chip (development kit)', hint: "its serial port is the target chip's UART: the firmware decides (hci: or nrf:)" },
  },
  // USB-UART bridges, vendor ids UNVERIFIED here (well known: FTDI 0403, Silicon Labs 10c4, WCH 1a86).
  ...(['0403', '10c4', '1a86'] as const).map(
    (vendorId): Entry => ({
      vendorId,
      device: {
        name: 'USB-UART bridge',
        hint: "whatever is wired to it decides; for an nRF running hci_uart wire RTS/CTS too (rtscts=on), or set rtscts=off if the firmware was built without flow control",
      },
    }),
  ),
];

/** What we know about a USB serial device from its ids, most specific entry first. */
export function knownUsbDevice(vendorId: string | undefined, productId: string | undefined, product?: string): KnownUsbDevice | undefined {
  if (vendorId === undefined) return undefined;
  const vid = vendorId.toLowerCase();
  const pid = productId?.toLowerCase();
  const exact = ENTRIES.find(
    (e) => e.vendorId === vid && e.productId !== undefined && e.productId === pid && (e.product === undefined || e.product.test(product ?? '')),
  );
  return (exact ?? ENTRIES.find((e) => e.vendorId === vid && e.productId === undefined))?.device;
}
