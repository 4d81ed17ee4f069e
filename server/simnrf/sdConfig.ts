/**
 * What sd_ble_cfg_set configures and how much RAM it costs. The real connectivity firmware is
 * built with a fixed RAM start for the SoftDevice, so a configuration that asks for too much makes
 * cfg_set / sd_ble_enable fail with NRF_ERROR_NO_MEM; hosts shrink their wishes and retry. The
 * cost figures below are this simulator's own model (Nordic does not publish a formula): a few
 * hundred bytes per link plus buffers that grow with the ATT MTU, the event length and the queues.
 */
import { BLE_CONN_CFG_TAG_DEFAULT, NRF_ERROR, NRF_SUCCESS } from '../backends/nrf/serialization/constants.js';
import type { NrfConfig } from '../backends/nrf/serialization/commands.js';

export interface ConnTagConfig {
  readonly connCount: number;
  /** 1.25 ms units. */
  readonly eventLength: number;
  readonly writeCmdTxQueueSize: number;
  readonly hvnTxQueueSize: number;
  readonly attMtu: number;
}

/** SoftDevice defaults (BLE_GAP_CONN_COUNT_DEFAULT, BLE_GAP_EVENT_LENGTH_DEFAULT, …). */
export const DEFAULT_CONN_CONFIG: ConnTagConfig = {
  connCount: 1,
  eventLength: 3,
  writeCmdTxQueueSize: 1,
  hvnTxQueueSize: 1,
  attMtu: 23,
};

export interface RoleCounts {
  readonly periph: number;
  readonly central: number;
  readonly centralSec: number;
}

export const ATT_MTU_MAX = 247;
export const EVENT_LENGTH_MIN = 2;
/** BLE_GAP_ROLE_COUNT_COMBINED_MAX. */
const ROLE_COUNT_COMBINED_MAX = 20;
/** RAM the simulated firmware leaves to SoftDevice connection buffers, bytes. */
export const DEFAULT_SOFTDEVICE_RAM = 24_000;

/** Radio time an exchange of two full PDUs of `octets` needs at 1M, in 1.25 ms units (with scheduling margin). */
export function eventLengthFor(octets: number): number {
  const us = 2 * (octets + 14) * 8 + 2 * 150 + 1250;
  return Math.ceil(us / 1250);
}

/** Largest LL payload that fits the event length, 27..251. */
export function octetsFor(eventLength: number): number {
  let octets = 251;
  while (octets > 27 && eventLengthFor(octets) > eventLength) octets--;
  return octets;
}

export class SoftDeviceConfig {
  #roles: RoleCounts = { periph: 1, central: 3, centralSec: 1 };
  #vsUuidCount = 10;
  readonly #tags = new Map<number, ConnTagConfig>();
  readonly #ramBytes: number;

  constructor(ramBytes = DEFAULT_SOFTDEVICE_RAM) {
    this.#ramBytes = ramBytes;
  }

  get roles(): RoleCounts {
    return this.#roles;
  }

  get vsUuidCount(): number {
    return this.#vsUuidCount;
  }

  /** The configuration of a tag; undefined when the tag was never configured (and is not the default one). */
  tag(tag: number): ConnTagConfig | undefined {
    if (tag === BLE_CONN_CFG_TAG_DEFAULT) return DEFAULT_CONN_CONFIG;
    return this.#tags.get(tag);
  }

  /** Applies one sd_ble_cfg_set; returns the NRF result (nothing changes on failure). */
  apply(cfg: NrfConfig): number {
    const next = new SoftDeviceConfig(this.#ramBytes);
    next.#roles = this.#roles;
    next.#vsUuidCount = this.#vsUuidCount;
    for (const [k, v] of this.#tags) next.#tags.set(k, v);
    const result = next.#applyHere(cfg);
    if (result !== NRF_SUCCESS) return result;
    if (next.ramNeeded() > this.#ramBytes) return NRF_ERROR.noMem;
    this.#roles = next.#roles;
    this.#vsUuidCount = next.#vsUuidCount;
    this.#tags.clear();
    for (const [k, v] of next.#tags) this.#tags.set(k, v);
    return NRF_SUCCESS;
  }

  #applyHere(cfg: NrfConfig): number {
    const invalid = NRF_ERROR.invalidParam;
    switch (cfg.id) {
      case 'gapRoleCount': {
        const total = cfg.periphRoleCount + cfg.centralRoleCount;
        if (total > ROLE_COUNT_COMBINED_MAX || cfg.centralSecCount > cfg.centralRoleCount) return invalid;
        this.#roles = { periph: cfg.periphRoleCount, central: cfg.centralRoleCount, centralSec: cfg.centralSecCount };
        return NRF_SUCCESS;
      }
      case 'commonVsUuid':
        this.#vsUuidCount = cfg.vsUuidCount;
        return NRF_SUCCESS;
      case 'connGap':
        if (cfg.connCount < 1 || cfg.eventLength < EVENT_LENGTH_MIN) return invalid;
        return this.#setTag(cfg.connCfgTag, { connCount: cfg.connCount, eventLength: cfg.eventLength });
      case 'connGatt':
        if (cfg.attMtu < DEFAULT_CONN_CONFIG.attMtu || cfg.attMtu > ATT_MTU_MAX) return invalid;
        return this.#setTag(cfg.connCfgTag, { attMtu: cfg.attMtu });
      case 'connGattc':
        if (cfg.writeCmdTxQueueSize < 1) return invalid;
        return this.#setTag(cfg.connCfgTag, { writeCmdTxQueueSize: cfg.writeCmdTxQueueSize });
      case 'connGatts':
        if (cfg.hvnTxQueueSize < 1) return invalid;
        return this.#setTag(cfg.connCfgTag, { hvnTxQueueSize: cfg.hvnTxQueueSize });
      default: {
        const never: never = cfg;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #setTag(tag: number, change: Partial<ConnTagConfig>): number {
    // The default tag always means the SoftDevice defaults.
    if (tag === BLE_CONN_CFG_TAG_DEFAULT) return NRF_ERROR.invalidParam;
    this.#tags.set(tag, { ...(this.#tags.get(tag) ?? DEFAULT_CONN_CONFIG), ...change });
    return NRF_SUCCESS;
  }

  /** Bytes this configuration reserves (see the module comment). */
  ramNeeded(): number {
    const link = (c: ConnTagConfig): number =>
      600 + 4 * c.attMtu + 300 * c.eventLength + (c.attMtu + 20) * (c.writeCmdTxQueueSize + c.hvnTxQueueSize);
    let total = 300 * (this.#roles.periph + this.#roles.central) + 16 * this.#vsUuidCount;
    total += link(DEFAULT_CONN_CONFIG);
    for (const c of this.#tags.values()) total += c.connCount * link(c);
    return total;
  }
}
