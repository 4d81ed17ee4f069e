/** Controller identity in words, from HCI_Read_Local_Version_Information. */
import type { CommandReturn } from '../../host/hci/commands.js';

const CORE_VERSIONS = {
  6: '4.0',
  7: '4.1',
  8: '4.2',
  9: '5.0',
  10: '5.1',
  11: '5.2',
  12: '5.3',
  13: '5.4',
  14: '6.0',
} as const satisfies Record<number, string>;

// A few manufacturers users meet on dongles; the rest are shown by number.
const COMPANIES = {
  0x0002: 'Intel',
  0x000a: 'Qualcomm Technologies International',
  0x000d: 'Texas Instruments',
  0x000f: 'Broadcom',
  0x001d: 'Qualcomm',
  0x0046: 'MediaTek',
  0x0059: 'Nordic Semiconductor',
  0x005d: 'Realtek',
  0x0131: 'Cypress Semiconductor',
  0x05f1: 'The Linux Foundation (Zephyr)',
  0xffff: 'test / unassigned',
} as const satisfies Record<number, string>;

const hex = (n: number, d: number): string => `0x${n.toString(16).padStart(d, '0').toUpperCase()}`;

export function describeController(v: CommandReturn<'readLocalVersionInformation'>): string {
  const core = (CORE_VERSIONS as Readonly<Record<number, string>>)[v.hciVersion];
  const company = (COMPANIES as Readonly<Record<number, string>>)[v.companyId];
  return [
    `HCI ${core === undefined ? 'version' : `Bluetooth ${core}`} (${hex(v.hciVersion, 2)})`,
    `manufacturer ${company ?? 'unknown'} (${hex(v.companyId, 4)})`,
    `subversion ${hex(v.lmpSubversion, 4)}`,
    `revision ${hex(v.hciSubversion, 4)}`,
  ].join(', ');
}
