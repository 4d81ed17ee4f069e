/**
 * Bringing the SoftDevice up for a DFU central (spec §5.4): identify the firmware, configure the
 * connections (ATT MTU 247, a connection event long enough for 251-byte packets, a write-command
 * queue), enable, register the vendor UUID bases, read our address. The device's RAM bounds the
 * configuration; when it says NO_MEM the queue, then the number of links, shrink until it fits.
 *
 * The API version decides how the role count is encoded, and a wrongly encoded command resets the
 * firmware, so the role count is configured only once sd_ble_version_get has named the
 * SoftDevice. Whether that call works before sd_ble_enable is not documented: when it does not,
 * the SoftDevice keeps its default role count (3 centrals) and the version is read after enabling.
 */
import { addressFromBytes, type DeviceAddress } from '../../ble/address.js';
import { BledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { checkFirmwareApi, describeSoftDevice } from './firmware.js';
import { nrfCallError, type NrfRpc } from './rpc.js';
import type { NrfConfig } from './serialization/commands.js';
import { NRF_ERROR, NRF_SUCCESS, type ApiVersion } from './serialization/constants.js';
import type { BleVersion, GapAddr } from './serialization/structs.js';

/** The conn_cfg_tag our configuration lives under; sd_ble_gap_connect must name it. */
export const CONN_CFG_TAG = 1;
/** The SoftDevice's default central role count, in force when we could not set our own. */
const DEFAULT_CENTRAL_ROLES = 3;

export interface SoftDeviceSetupOptions {
  /** The API version the spec asked for; undefined = whatever the firmware speaks. */
  readonly api: ApiVersion | undefined;
  readonly maxConnections: number;
  readonly attMtu: number;
  /** Radio time per connection event, 1.25 ms units (≥ 5 for 251-byte packets). */
  readonly eventLength: number;
  /** Write commands the SoftDevice may queue per link. */
  readonly writeCmdQueue: number;
  /** 128-bit UUID bases (16 bytes, least significant first) to register before any discovery. */
  readonly vendorBases: readonly Uint8Array[];
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export interface SoftDeviceSetup {
  readonly api: ApiVersion;
  readonly version: BleVersion;
  readonly address: DeviceAddress;
  readonly maxConnections: number;
  readonly writeCmdQueue: number;
  /** uuid type → its base (16 bytes, least significant first). */
  readonly vendorBases: ReadonlyMap<number, Uint8Array>;
  readonly identity: string;
}

const CORE_VERSIONS: Readonly<Record<number, string>> = { 8: '4.2', 9: '5.0', 10: '5.1', 11: '5.2' };

function describe(version: BleVersion): string {
  const core = CORE_VERSIONS[version.versionNumber];
  return `Nordic connectivity firmware, ${describeSoftDevice(version.subversionNumber)}${core === undefined ? '' : `, Bluetooth ${core}`}`;
}

/** bledfu's address from the SoftDevice's: every kind of random address (static, resolvable, non-resolvable) is 'random'. */
export function deviceAddressOf(addr: GapAddr): DeviceAddress {
  return addressFromBytes(addr.address, addr.type === 0 ? 'public' : 'random');
}

async function versionOf(rpc: NrfRpc, signal: AbortSignal | undefined): Promise<BleVersion | undefined> {
  const r = await rpc.call({ kind: 'versionGet' }, signal);
  return r.result === NRF_SUCCESS && r.output !== null ? r.output.version : undefined;
}

export async function setUpSoftDevice(rpc: NrfRpc, options: SoftDeviceSetupOptions): Promise<SoftDeviceSetup> {
  const { signal, logger } = options;
  let version = await versionOf(rpc, signal);
  if (version !== undefined) rpc.api = checkFirmwareApi(version.subversionNumber, options.api);
  else logger.debug('sd_ble_version_get refused before sd_ble_enable; the role count stays at its default');

  let links = rpc.api === undefined ? Math.min(options.maxConnections, DEFAULT_CENTRAL_ROLES) : options.maxConnections;
  let queue = options.writeCmdQueue;
  for (;;) {
    const configs: NrfConfig[] = [];
    if (rpc.api !== undefined) {
      configs.push({
        id: 'gapRoleCount',
        periphRoleCount: 0,
        centralRoleCount: links,
        centralSecCount: 0,
        ...(rpc.api === 6 ? { advSetCount: 1, qosChannelSurveyRoleAvailable: false } : {}),
      });
    }
    configs.push(
      { id: 'connGap', connCfgTag: CONN_CFG_TAG, connCount: links, eventLength: options.eventLength },
      { id: 'connGatt', connCfgTag: CONN_CFG_TAG, attMtu: options.attMtu },
      { id: 'connGattc', connCfgTag: CONN_CFG_TAG, writeCmdTxQueueSize: queue },
    );
    let result = NRF_SUCCESS;
    for (const config of configs) {
      result = (await rpc.call({ kind: 'cfgSet', config }, signal)).result;
      if (result !== NRF_SUCCESS) {
        if (result !== NRF_ERROR.noMem) throw nrfCallError(rpc.api ?? 6, 'cfgSet', result, { what: `configuring ${config.id}` });
        break;
      }
    }
    if (result === NRF_SUCCESS) {
      result = (await rpc.call({ kind: 'enable' }, signal)).result;
      // Enabled already: a device that kept its state across our RESET; it works as configured.
      if (result === NRF_SUCCESS || result === NRF_ERROR.invalidState) break;
      if (result !== NRF_ERROR.noMem) throw nrfCallError(rpc.api ?? 6, 'enable', result);
    }
    if (queue > 1) queue = Math.max(1, Math.floor(queue / 2));
    else if (links > 1) links--;
    else {
      throw new BledfuError('ADAPTER_UNAVAILABLE', 'the connectivity firmware has not enough RAM even for one link with ATT MTU 247', {
        layer: 'nrf',
        remedy: 'flash the standard connectivity 4.1.4 firmware (its RAM layout fits this configuration)',
      });
    }
    logger.debug({ links, queue }, 'SoftDevice out of RAM for the configuration; shrinking it');
  }

  if (rpc.api === undefined) {
    version = await versionOf(rpc, signal);
    if (version === undefined) {
      throw new BledfuError('SERIAL_WRONG_PROTOCOL', 'the connectivity firmware does not answer sd_ble_version_get', {
        layer: 'nrf',
        remedy: 'flash Nordic connectivity firmware 4.1.4 (SoftDevice API v5 or v6)',
      });
    }
    rpc.api = checkFirmwareApi(version.subversionNumber, options.api);
  }
  const api = rpc.api;
  if (version === undefined) throw new BledfuError('INTERNAL', 'no SoftDevice version after setup', { layer: 'nrf' });

  const vendorBases = new Map<number, Uint8Array>();
  for (const base of options.vendorBases) {
    const r = await rpc.invoke({ kind: 'uuidVsAdd', base }, signal, { what: 'registering a vendor UUID base' });
    if (r.output !== null) vendorBases.set(r.output.uuidType, base);
  }
  const addr = await rpc.invoke({ kind: 'gapAddrGet' }, signal);
  if (addr.output === null) throw new BledfuError('INTERNAL', 'sd_ble_gap_addr_get returned no address', { layer: 'nrf' });
  return {
    api,
    version,
    address: deviceAddressOf(addr.output.addr),
    maxConnections: links,
    writeCmdQueue: queue,
    vendorBases,
    identity: describe(version),
  };
}
