/**
 * The SoftDevice of the simulated connectivity dongle: the sd_ble_* calls a host serializes,
 * answered with the SoftDevice's result codes, and the BLE events it reports. It is a central on
 * the simulated air (like the virtual HCI controller, but with the SoftDevice's own rules: what
 * it refuses, which events follow, v6 scanning that pauses after every report). Calls never emit
 * events synchronously, so a command's response always precedes what it causes.
 */
import { addressFromBytes, addressToBytes, type DeviceAddress } from '../ble/address.js';
import type { Logger } from '../common/logger.js';
import type { NrfCommand } from '../backends/nrf/serialization/commands.js';
import {
  GAP_ROLE,
  GAP_TIMEOUT_SRC,
  NRF_ERROR,
  NRF_SUCCESS,
  type ApiVersion,
} from '../backends/nrf/serialization/constants.js';
import type { NrfEvent } from '../backends/nrf/serialization/events.js';
import type { NrfResponse } from '../backends/nrf/serialization/responses.js';
import type { BleUuid, DataRef, GapAddr } from '../backends/nrf/serialization/structs.js';
import type { ScanParams } from '../backends/nrf/serialization/versions.js';
import type { AirAdvertisement, AirLink, CentralLinkObserver, CentralNode, Initiation, SimAir } from '../sim/air.js';
import type { SimScheduler, TimerHandle } from '../sim/scheduler.js';
import { SoftDeviceConfig, type ConnTagConfig } from './sdConfig.js';
import { SdLink, validConnParams } from './sdLink.js';

export const BLE_ERROR_NOT_ENABLED = 0x3001;
export const BLE_ERROR_INVALID_CONN_HANDLE = 0x3002;
const NRF_ERROR_NOT_FOUND = 5;
const NRF_ERROR_INVALID_LENGTH = 9;
/** BLE_GAP_SCAN_BUFFER_MIN: a legacy advertising report must fit. */
const SCAN_BUFFER_MIN = 31;
/** SoftDevice firmware ids sd_ble_version_get reports: S132 5.1.0, S140 6.1.1. */
export const SOFTDEVICE_FWID: Readonly<Record<ApiVersion, number>> = { 5: 0xa5, 6: 0xb6 };
const BT_VERSION_5_0 = 9;
const NORDIC_COMPANY_ID = 0x0059;

export interface SoftDeviceOptions {
  readonly api: ApiVersion;
  readonly air: SimAir;
  readonly scheduler: SimScheduler;
  /** Random static address of the dongle. */
  readonly address: DeviceAddress;
  readonly emit: (event: NrfEvent) => void;
  readonly ramBytes?: number;
  readonly logger?: Logger;
}

interface Scan {
  readonly params: ScanParams;
  readonly buffer: DataRef | null;
  /** v6: a report was delivered and the host has not said "continue" yet. */
  paused: boolean;
  readonly timer: TimerHandle | undefined;
}

interface PendingConnect {
  readonly initiation: Initiation;
  readonly tag: number;
  readonly timer: TimerHandle | undefined;
}

/** ble_gap_addr_t of an address on the air. */
export function gapAddrOf(address: DeviceAddress): GapAddr {
  const bytes = addressToBytes(address);
  let type = 0;
  if (address.type === 'random') {
    const top = (bytes[5] as number) >> 6;
    type = top === 0b11 ? 1 : top === 0b01 ? 2 : 3;
  }
  return { idPeer: false, type, address: bytes };
}

function addressOfGapAddr(addr: GapAddr): DeviceAddress {
  return addressFromBytes(addr.address, addr.type === 0 ? 'public' : 'random');
}

function validScanParams(p: ScanParams): boolean {
  return p.interval >= 4 && p.interval <= 0x4000 && p.window >= 4 && p.window <= p.interval;
}

/** Scan timeout in ms: seconds in v5, 10 ms units in v6; 0 = none. */
function scanTimeoutMs(p: ScanParams): number {
  return p.api === 5 ? p.timeout * 1000 : p.timeout * 10;
}

const ok = <K extends NrfResponse['kind']>(kind: K): NrfResponse => ({ kind, result: NRF_SUCCESS }) as NrfResponse;
/** A response without output parameters (calls that have some send none unless they succeed). */
const fail = <K extends NrfResponse['kind']>(kind: K, result: number): NrfResponse => ({ kind, result }) as unknown as NrfResponse;

export class SimSoftDevice implements CentralNode {
  readonly #o: SoftDeviceOptions;
  #config: SoftDeviceConfig;
  #enabled = false;
  readonly #vendorBases: Uint8Array[] = [];
  #scan: Scan | undefined;
  #connecting: PendingConnect | undefined;
  readonly #links = new Map<number, SdLink>();
  readonly #byAir = new Map<AirLink, { readonly link: SdLink; readonly tag: number }>();
  #channel = 0;
  #alive = true;

  constructor(options: SoftDeviceOptions) {
    this.#o = options;
    this.#config = new SoftDeviceConfig(options.ramBytes);
  }

  get address(): DeviceAddress {
    return this.#o.address;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get connections(): number {
    return this.#links.size;
  }

  /** Everything the SoftDevice knew is gone; links vanish without a terminate (chip reset). */
  reset(): void {
    this.#scan?.timer?.cancel();
    this.#scan = undefined;
    this.#connecting?.timer?.cancel();
    this.#connecting?.initiation.cancel();
    this.#connecting = undefined;
    for (const link of this.#links.values()) {
      link.closed();
      link.air.centralVanished();
    }
    this.#links.clear();
    this.#byAir.clear();
    this.#o.air.centralGone(this);
    this.#config = new SoftDeviceConfig(this.#o.ramBytes);
    this.#enabled = false;
    this.#vendorBases.length = 0;
  }

  /** The dongle is gone for good. */
  close(): void {
    this.reset();
    this.#alive = false;
  }

  // --- commands ---------------------------------------------------------------------------------

  command(c: NrfCommand): NrfResponse {
    switch (c.kind) {
      case 'versionGet':
        return {
          kind: 'versionGet',
          result: NRF_SUCCESS,
          output: { version: { versionNumber: BT_VERSION_5_0, companyId: NORDIC_COMPANY_ID, subversionNumber: SOFTDEVICE_FWID[this.#o.api] } },
        };
      case 'cfgSet':
        if (this.#enabled) return fail('cfgSet', NRF_ERROR.invalidState);
        return fail('cfgSet', this.#config.apply(c.config));
      case 'enable':
        if (this.#enabled) return fail('enable', NRF_ERROR.invalidState);
        this.#enabled = true;
        return ok('enable');
      default:
        break;
    }
    if (!this.#enabled) return fail(c.kind, BLE_ERROR_NOT_ENABLED);
    switch (c.kind) {
      case 'uuidVsAdd':
        return this.#uuidVsAdd(c.base);
      case 'gapAddrGet':
        return { kind: 'gapAddrGet', result: NRF_SUCCESS, output: { addr: gapAddrOf(this.#o.address) } };
      case 'gapScanStart':
        return fail('gapScanStart', this.#scanStart(c.params, c.reportBuffer ?? null));
      case 'gapScanStop':
        if (this.#scan === undefined) return fail('gapScanStop', NRF_ERROR.invalidState);
        this.#stopScan();
        return ok('gapScanStop');
      case 'gapConnect':
        return fail('gapConnect', this.#connect(c.peerAddr, c.scanParams, c.connParams, c.connCfgTag));
      case 'gapConnectCancel': {
        const pending = this.#connecting;
        if (pending === undefined) return fail('gapConnectCancel', NRF_ERROR.invalidState);
        this.#connecting = undefined;
        pending.timer?.cancel();
        pending.initiation.cancel();
        return ok('gapConnectCancel');
      }
      default:
        return this.#linkCommand(c);
    }
  }

  #linkCommand(c: Exclude<NrfCommand, { kind: 'versionGet' | 'cfgSet' | 'enable' | 'uuidVsAdd' | 'gapAddrGet' | 'gapScanStart' | 'gapScanStop' | 'gapConnect' | 'gapConnectCancel' }>): NrfResponse {
    const link = this.#links.get(c.connHandle);
    if (link === undefined) return fail(c.kind, BLE_ERROR_INVALID_CONN_HANDLE);
    switch (c.kind) {
      case 'gapDisconnect':
        return fail(c.kind, link.disconnect(c.hciStatusCode));
      case 'gapConnParamUpdate':
        return fail(c.kind, link.connParamUpdate(c.connParams));
      case 'gapDataLengthUpdate': {
        const r = link.dataLengthUpdate(c.params, c.wantLimitation);
        return { kind: 'gapDataLengthUpdate', result: r.result, output: r.result === NRF_SUCCESS ? { limitation: r.limitation } : null };
      }
      case 'gapPhyUpdate':
        return fail(c.kind, link.phyUpdate(c.phys));
      case 'gattcPrimaryServicesDiscover':
        return fail(c.kind, link.primaryServicesDiscover(c.startHandle, c.uuid));
      case 'gattcCharacteristicsDiscover':
        return fail(c.kind, link.characteristicsDiscover(c.range));
      case 'gattcDescriptorsDiscover':
        return fail(c.kind, link.descriptorsDiscover(c.range));
      case 'gattcRead':
        return fail(c.kind, link.read(c.handle, c.offset));
      case 'gattcWrite':
        return fail(c.kind, link.write(c.params));
      case 'gattcHvConfirm':
        return fail(c.kind, link.hvConfirm(c.handle));
      case 'gattcExchangeMtuRequest':
        return fail(c.kind, link.exchangeMtu(c.clientRxMtu));
      case 'gattsExchangeMtuReply':
        return fail(c.kind, link.gattsExchangeMtuReply(c.serverRxMtu));
      case 'gattsSysAttrSet':
      case 'userMemReply':
        // Nothing is stored for the peer in the central's own server: accepted as is.
        return ok(c.kind);
      default: {
        const never: never = c;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }

  #uuidVsAdd(base: Uint8Array): NrfResponse {
    const same = (a: Uint8Array): boolean => a.every((b, i) => i === 12 || i === 13 || b === base[i]);
    const existing = this.#vendorBases.findIndex(same);
    if (existing >= 0) return { kind: 'uuidVsAdd', result: NRF_SUCCESS, output: { uuidType: existing + 2 } };
    if (this.#vendorBases.length >= this.#config.vsUuidCount) return fail('uuidVsAdd', NRF_ERROR.noMem);
    this.#vendorBases.push(base.slice());
    return { kind: 'uuidVsAdd', result: NRF_SUCCESS, output: { uuidType: this.#vendorBases.length + 1 } };
  }

  /** ble_uuid_t of ATT UUID bytes: SIG 16-bit, a registered vendor base, or unknown (0, 0). */
  uuidOf(bytes: Uint8Array): BleUuid {
    if (bytes.length === 2) return { uuid: (bytes[0] as number) | ((bytes[1] as number) << 8), type: 1 };
    if (bytes.length !== 16) return { uuid: 0, type: 0 };
    const index = this.#vendorBases.findIndex((base) => base.every((b, i) => i === 12 || i === 13 || b === bytes[i]));
    if (index < 0) return { uuid: 0, type: 0 };
    return { uuid: (bytes[12] as number) | ((bytes[13] as number) << 8), type: index + 2 };
  }

  uuidBytes(uuid: BleUuid): Uint8Array | undefined {
    if (uuid.type === 1) return Uint8Array.of(uuid.uuid & 0xff, uuid.uuid >> 8);
    const base = this.#vendorBases[uuid.type - 2];
    if (base === undefined) return undefined;
    const out = base.slice();
    out[12] = uuid.uuid & 0xff;
    out[13] = uuid.uuid >> 8;
    return out;
  }

  // --- scanning -----------------------------------------------------------------------------------

  #scanStart(params: ScanParams | null, buffer: DataRef | null): number {
    const api = this.#o.api;
    if (params === null) {
      // v6 "continue": only a scanner paused after a report can go on.
      const scan = this.#scan;
      if (api === 5 || scan === undefined || !scan.paused) return NRF_ERROR.invalidState;
      if (buffer === null || buffer.bufferId === 0) return NRF_ERROR.invalidParam;
      if (buffer.len < SCAN_BUFFER_MIN) return NRF_ERROR_INVALID_LENGTH;
      this.#scan = { ...scan, buffer, paused: false };
      return NRF_SUCCESS;
    }
    if (this.#scan !== undefined || this.#connecting !== undefined) return NRF_ERROR.invalidState;
    if (!validScanParams(params)) return NRF_ERROR.invalidParam;
    if (params.api === 5 ? params.useWhitelist : params.filterPolicy !== 0) {
      // No whitelist can be set through this simulator.
      return NRF_ERROR.invalidState;
    }
    if (params.api === 6 && params.scanPhys !== 0 && params.scanPhys !== 1) return NRF_ERROR.notSupported;
    if (api === 6) {
      if (buffer === null || buffer.bufferId === 0) return NRF_ERROR.invalidParam;
      if (buffer.len < SCAN_BUFFER_MIN) return NRF_ERROR_INVALID_LENGTH;
    }
    const timeout = scanTimeoutMs(params);
    const timer = timeout > 0 ? this.#o.scheduler.after(timeout, () => this.#scanTimedOut(), 'simnrf: scan timeout') : undefined;
    this.#scan = { params, buffer: api === 6 ? buffer : null, paused: false, timer };
    // A paused v6 scanner stays on the air: its timeout keeps running, and time with it.
    this.#o.air.setScanning(this, { active: params.active });
    return NRF_SUCCESS;
  }

  #stopScan(): void {
    this.#scan?.timer?.cancel();
    this.#scan = undefined;
    this.#o.air.setScanning(this, undefined);
  }

  #scanTimedOut(): void {
    const scan = this.#scan;
    if (scan === undefined) return;
    this.#stopScan();
    this.#o.emit({
      kind: 'gapTimeout',
      connHandle: 0xffff,
      src: GAP_TIMEOUT_SRC.scan,
      ...(this.#o.api === 6 ? { releasedBuffer: scan.buffer ?? { bufferId: 0, len: 0 } } : {}),
    });
  }

  onAdvertisement(adv: AirAdvertisement): void {
    const scan = this.#scan;
    if (!this.#alive || scan === undefined || scan.paused) return;
    const peerAddr = gapAddrOf(adv.address);
    const directAddr: GapAddr = { idPeer: false, type: 0, address: new Uint8Array(6) };
    const scanRsp = adv.kind === 'scanRsp';
    if (this.#o.api === 5) {
      this.#o.emit({
        kind: 'gapAdvReport',
        api: 5,
        connHandle: 0xffff,
        peerAddr,
        directAddr,
        rssi: adv.rssi,
        scanRsp,
        // BLE_GAP_ADV_TYPE_ADV_IND 0, _ADV_DIRECT_IND 1, _ADV_SCAN_IND 2, _ADV_NONCONN_IND 3.
        type: adv.directed === true ? 1 : adv.connectable ? 0 : scanRsp ? 2 : 3,
        data: adv.data.slice(0, 31),
      });
      return;
    }
    const buffer = scan.buffer ?? { bufferId: 0, len: 0 };
    scan.paused = true;
    this.#o.emit({
      kind: 'gapAdvReport',
      api: 6,
      connHandle: 0xffff,
      type: {
        connectable: !scanRsp && adv.connectable,
        scannable: scanRsp || (adv.connectable && adv.directed !== true),
        directed: adv.directed === true,
        scanResponse: scanRsp,
        extendedPdu: false,
        status: 0,
        reserved: 0,
      },
      peerAddr,
      directAddr,
      primaryPhy: 1,
      secondaryPhy: 0xff,
      txPower: 127,
      rssi: adv.rssi,
      chIndex: 37 + (this.#channel++ % 3),
      setId: 0xff,
      dataId: 0,
      bufferId: buffer.bufferId,
      data: adv.data.slice(0, Math.min(31, buffer.len)),
      auxPointer: { auxOffset: 0, auxPhy: 0 },
    });
  }

  // --- connecting ---------------------------------------------------------------------------------

  #connect(peer: GapAddr | null, scanParams: ScanParams, connParams: Parameters<typeof validConnParams>[0], tagId: number): number {
    if (this.#connecting !== undefined) return NRF_ERROR.invalidState;
    // Connecting to whoever is on a whitelist needs a whitelist, which cannot be set here.
    if (peer === null) return NRF_ERROR.invalidState;
    if (!validScanParams(scanParams) || !validConnParams(connParams)) return NRF_ERROR.invalidParam;
    const tag = this.#config.tag(tagId);
    if (tag === undefined) return NRF_ERROR_NOT_FOUND;
    if (this.#links.size >= this.#config.roles.central) return NRF_ERROR.connCount;
    const sameTag = [...this.#byAir.values()].filter((l) => l.tag === tagId).length;
    if (tagId !== 0 && sameTag >= tag.connCount) return NRF_ERROR.connCount;
    // "If a scanning procedure is currently in progress it will be automatically stopped."
    if (this.#scan !== undefined) this.#stopScan();
    const target = addressOfGapAddr(peer);
    const observer = this.#observer(tagId, tag);
    const initiation = this.#o.air.initiate(
      this,
      target,
      { intervalMs: connParams.minConnInterval * 1.25, latency: connParams.slaveLatency, supervisionTimeoutMs: connParams.connSupTimeout * 10 },
      observer,
    );
    const timeout = scanTimeoutMs(scanParams);
    const timer =
      timeout > 0
        ? this.#o.scheduler.after(
            timeout,
            () => {
              if (this.#connecting?.initiation !== initiation) return;
              this.#connecting = undefined;
              initiation.cancel();
              this.#o.emit({ kind: 'gapTimeout', connHandle: 0xffff, src: GAP_TIMEOUT_SRC.conn });
            },
            'simnrf: connection timeout',
          )
        : undefined;
    this.#connecting = { initiation, tag: tagId, timer };
    return NRF_SUCCESS;
  }

  #nextHandle(): number {
    let h = 0;
    while (this.#links.has(h)) h++;
    return h;
  }

  #observer(tagId: number, tag: ConnTagConfig): CentralLinkObserver {
    const find = (air: AirLink): SdLink | undefined => this.#byAir.get(air)?.link;
    return {
      onConnected: (air) => {
        this.#connecting?.timer?.cancel();
        this.#connecting = undefined;
        if (!this.#alive) return;
        const link = new SdLink(
          { scheduler: this.#o.scheduler, emit: (e) => this.#o.emit(e), uuidOf: (b) => this.uuidOf(b), uuidBytes: (u) => this.uuidBytes(u) },
          this.#nextHandle(),
          air,
          tag,
        );
        this.#links.set(link.connHandle, link);
        this.#byAir.set(air, { link, tag: tagId });
        const p = air.parameters();
        const interval = Math.round(p.intervalMs / 1.25);
        this.#o.emit({
          kind: 'gapConnected',
          connHandle: link.connHandle,
          peerAddr: gapAddrOf(air.peripheralAddress),
          role: GAP_ROLE.central,
          connParams: { minConnInterval: interval, maxConnInterval: interval, slaveLatency: p.latency, connSupTimeout: Math.round(p.supervisionTimeoutMs / 10) },
          ...(this.#o.api === 6 ? { advHandle: 0xff, advData: { bufferId: 0, len: 0 }, scanRspData: { bufferId: 0, len: 0 } } : {}),
        });
      },
      onData: (air, fragment, start) => find(air)?.data(fragment, start),
      onParametersUpdated: (air) => find(air)?.parametersUpdated(),
      onDataLengthChanged: (air) => find(air)?.dataLengthChanged(),
      onPhyUpdated: (air) => find(air)?.phyUpdated(),
      onDisconnected: (air, reason) => {
        const link = find(air);
        if (link === undefined) return;
        link.closed();
        this.#links.delete(link.connHandle);
        this.#byAir.delete(air);
        this.#o.emit({ kind: 'gapDisconnected', connHandle: link.connHandle, reason });
      },
    };
  }
}
