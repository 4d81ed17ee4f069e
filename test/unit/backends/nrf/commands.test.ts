import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { encodeH5, h5Frame, vendorPacket } from '../../../../server/backends/nrf/h5.js';
import {
  commandKindForOpcode,
  commandOpcode,
  decodeCommand,
  encodeCommand,
  type NrfCommand,
  type NrfConfig,
} from '../../../../server/backends/nrf/serialization/commands.js';
import { SD_FUNCTIONS, type CommandKind } from '../../../../server/backends/nrf/serialization/constants.js';
import { commandPacket, decodeSerPacket, resetCommandPacket } from '../../../../server/backends/nrf/serialization/packets.js';
import type { GapAddr } from '../../../../server/backends/nrf/serialization/structs.js';
import type { ScanParams } from '../../../../server/backends/nrf/serialization/versions.js';
import {
  APIS,
  commandVectors,
  flagOf,
  h5LinkVectors,
  num,
  obj,
  objOrNull,
  str,
  type Api,
  type CommandVector,
  type JsonObject,
  NEEDS_NRF_VECTORS,
} from '../../../helpers/nrf-vectors.js';

const KIND_BY_FUNCTION: ReadonlyMap<string, CommandKind> = new Map(
  Object.entries(SD_FUNCTIONS).map(([kind, fn]): [string, CommandKind] => [fn, kind as CommandKind]),
);

const addrFrom = (a: JsonObject): GapAddr => ({
  idPeer: flagOf(a, 'addr_id_peer'),
  type: num(a, 'addr_type'),
  address: fromHex(str(a, 'addr_lsb_first_hex')),
});

function scanParamsFrom(api: Api, p: JsonObject): ScanParams {
  const timing = { interval: num(p, 'interval'), window: num(p, 'window'), timeout: num(p, 'timeout') };
  if (api === 5) {
    return { api, active: flagOf(p, 'active'), useWhitelist: flagOf(p, 'use_whitelist'), advDirReport: flagOf(p, 'adv_dir_report'), ...timing };
  }
  return {
    api,
    extended: flagOf(p, 'extended'),
    reportIncompleteEvts: flagOf(p, 'report_incomplete_evts'),
    active: flagOf(p, 'active'),
    filterPolicy: num(p, 'filter_policy'),
    scanPhys: num(p, 'scan_phys'),
    channelMask: fromHex(str(p, 'channel_mask_hex')),
    ...timing,
  };
}

function configFrom(api: Api, p: JsonObject): NrfConfig {
  const name = str(p, 'cfg_id_name');
  switch (name) {
    case 'BLE_CONN_CFG_GAP':
      return { id: 'connGap', connCfgTag: num(p, 'conn_cfg_tag'), connCount: num(p, 'conn_count'), eventLength: num(p, 'event_length') };
    case 'BLE_CONN_CFG_GATTC':
      return { id: 'connGattc', connCfgTag: num(p, 'conn_cfg_tag'), writeCmdTxQueueSize: num(p, 'write_cmd_tx_queue_size') };
    case 'BLE_CONN_CFG_GATTS':
      return { id: 'connGatts', connCfgTag: num(p, 'conn_cfg_tag'), hvnTxQueueSize: num(p, 'hvn_tx_queue_size') };
    case 'BLE_CONN_CFG_GATT':
      return { id: 'connGatt', connCfgTag: num(p, 'conn_cfg_tag'), attMtu: num(p, 'att_mtu') };
    case 'BLE_COMMON_CFG_VS_UUID':
      return { id: 'commonVsUuid', vsUuidCount: num(p, 'vs_uuid_count') };
    case 'BLE_GAP_CFG_ROLE_COUNT': {
      const counts = {
        id: 'gapRoleCount',
        periphRoleCount: num(p, 'periph_role_count'),
        centralRoleCount: num(p, 'central_role_count'),
        centralSecCount: num(p, 'central_sec_count'),
      } as const;
      if (api === 5) return counts;
      return { ...counts, advSetCount: num(p, 'adv_set_count'), qosChannelSurveyRoleAvailable: flagOf(p, 'qos_channel_survey_role_available') };
    }
    default:
      throw new Error(`no mapping for config ${name}`);
  }
}

/** The vector's C parameters as our typed command; a new function fails here loudly. */
function commandFrom(v: CommandVector): NrfCommand {
  const kind = KIND_BY_FUNCTION.get(v.function);
  if (kind === undefined) throw new Error(`${v.function} is not implemented by the command codec`);
  const p = v.params;
  const conn = (): { connHandle: number } => ({ connHandle: num(p, 'conn_handle') });
  switch (kind) {
    case 'enable':
    case 'versionGet':
    case 'gapAddrGet':
    case 'gapScanStop':
    case 'gapConnectCancel':
      return { kind };
    case 'cfgSet':
      return { kind, config: configFrom(v.api, p) };
    case 'uuidVsAdd': {
      const lsb = str(p, 'uuid128_lsb_first_hex');
      // The vector's own two spellings agree: text form reversed = wire order.
      assert.equal(toHex(fromHex(str(p, 'uuid_text')).reverse()), lsb);
      return { kind, base: fromHex(lsb) };
    }
    case 'gapScanStart': {
      const params = objOrNull(p, 'p_scan_params');
      const scan = { kind, params: params === null ? null : scanParamsFrom(v.api, params) } as const;
      if (v.api === 5) return scan;
      const buffer = objOrNull(p, 'p_adv_report_buffer');
      return { ...scan, reportBuffer: buffer === null ? null : { bufferId: num(buffer, 'buffer_id_assigned'), len: num(buffer, 'len') } };
    }
    case 'gapConnect': {
      const peer = objOrNull(p, 'p_peer_addr');
      const c = obj(p, 'p_conn_params');
      return {
        kind,
        peerAddr: peer === null ? null : addrFrom(peer),
        scanParams: scanParamsFrom(v.api, obj(p, 'p_scan_params')),
        connParams: {
          minConnInterval: num(c, 'min_conn_interval'),
          maxConnInterval: num(c, 'max_conn_interval'),
          slaveLatency: num(c, 'slave_latency'),
          connSupTimeout: num(c, 'conn_sup_timeout'),
        },
        connCfgTag: num(p, 'conn_cfg_tag'),
      };
    }
    case 'gapDisconnect':
      return { kind, ...conn(), hciStatusCode: num(p, 'hci_status_code') };
    case 'gapConnParamUpdate': {
      const c = objOrNull(p, 'p_conn_params');
      return {
        kind,
        ...conn(),
        connParams:
          c === null
            ? null
            : {
                minConnInterval: num(c, 'min_conn_interval'),
                maxConnInterval: num(c, 'max_conn_interval'),
                slaveLatency: num(c, 'slave_latency'),
                connSupTimeout: num(c, 'conn_sup_timeout'),
              },
      };
    }
    case 'gapDataLengthUpdate': {
      const d = objOrNull(p, 'p_dl_params');
      return {
        kind,
        ...conn(),
        params:
          d === null
            ? null
            : {
                maxTxOctets: num(d, 'max_tx_octets'),
                maxRxOctets: num(d, 'max_rx_octets'),
                maxTxTimeUs: num(d, 'max_tx_time_us'),
                maxRxTimeUs: num(d, 'max_rx_time_us'),
              },
        wantLimitation: p['p_dl_limitation'] !== null,
      };
    }
    case 'gapPhyUpdate': {
      const ph = obj(p, 'p_gap_phys');
      return { kind, ...conn(), phys: { txPhys: num(ph, 'tx_phys'), rxPhys: num(ph, 'rx_phys') } };
    }
    case 'gattcPrimaryServicesDiscover': {
      const u = objOrNull(p, 'p_srvc_uuid');
      return { kind, ...conn(), startHandle: num(p, 'start_handle'), uuid: u === null ? null : { uuid: num(u, 'uuid'), type: num(u, 'type') } };
    }
    case 'gattcCharacteristicsDiscover':
    case 'gattcDescriptorsDiscover': {
      const r = obj(p, 'p_handle_range');
      return { kind, ...conn(), range: { startHandle: num(r, 'start_handle'), endHandle: num(r, 'end_handle') } };
    }
    case 'gattcRead':
      return { kind, ...conn(), handle: num(p, 'handle'), offset: num(p, 'offset') };
    case 'gattcWrite': {
      const w = obj(p, 'p_write_params');
      const value = fromHex(str(w, 'p_value_hex'));
      assert.equal(value.length, num(w, 'len'));
      return {
        kind,
        ...conn(),
        params: { writeOp: num(w, 'write_op'), flags: num(w, 'flags'), handle: num(w, 'handle'), offset: num(w, 'offset'), value },
      };
    }
    case 'gattcHvConfirm':
      return { kind, ...conn(), handle: num(p, 'handle') };
    case 'gattcExchangeMtuRequest':
      return { kind, ...conn(), clientRxMtu: num(p, 'client_rx_mtu') };
    case 'gattsExchangeMtuReply':
      return { kind, ...conn(), serverRxMtu: num(p, 'server_rx_mtu') };
    case 'gattsSysAttrSet':
      assert.equal(p['p_sys_attr_data'], null);
      assert.equal(num(p, 'len'), 0);
      return { kind, ...conn(), sysAttrData: null, flags: num(p, 'flags') };
    case 'userMemReply':
      assert.equal(p['p_block'], null);
      return { kind, ...conn() };
    default: {
      const never: never = kind;
      throw new Error(`unmapped ${String(never)}`);
    }
  }
}

for (const api of APIS) {
  describe(`commands, API v${api} (every vector in commands_v${api}.json)`, NEEDS_NRF_VECTORS, () => {
    for (const v of commandVectors(api)) {
      assert.equal(v.api, api);
      assert.equal(v.encoder_err, 0);
      const command = commandFrom(v);

      it(`${v.name}: encodes to the codec bytes, the serialization packet, H5 and SLIP`, () => {
        assert.equal(commandOpcode(api, command.kind), v.opcode);
        assert.equal(toHex(encodeCommand(api, command)), v.codec_bytes_hex);
        const ser = commandPacket(api, command);
        assert.equal(toHex(ser), v.ser_packet_hex);
        assert.equal(toHex(encodeH5(vendorPacket(0, 0, ser))), v.h5_seq0_ack0_hex);
        assert.equal(toHex(h5Frame(vendorPacket(0, 0, ser))), v.slip_frame_hex);
      });

      it(`${v.name}: decodes back to the same command`, () => {
        assert.equal(commandKindForOpcode(api, v.opcode), command.kind);
        const packet = decodeSerPacket(fromHex(v.ser_packet_hex));
        assert.equal(packet.kind, 'command');
        assert.deepEqual(decodeCommand(api, packet.body), command);
      });

      it(`${v.name}: a byte too few or too many is MALFORMED_PACKET`, () => {
        const bytes = fromHex(v.codec_bytes_hex);
        const isMalformed = (e: unknown): boolean => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'nrf';
        if (bytes.length > 1) assert.throws(() => decodeCommand(api, bytes.subarray(0, -1)), isMalformed);
        assert.throws(() => decodeCommand(api, fromHex(`${v.codec_bytes_hex}00`)), isMalformed);
      });
    }
  });
}

describe('command codec edge cases', () => {
  const scanV5: ScanParams = { api: 5, active: true, useWhitelist: false, advDirReport: false, interval: 160, window: 80, timeout: 0 };

  it('refuses scan parameters of the other API version', () => {
    assert.throws(
      () => encodeCommand(6, { kind: 'gapScanStart', params: scanV5, reportBuffer: null }),
      (e) => hasCode(e, 'INVALID_ARGUMENT') && /API v5 given to the API v6/.test(e.message),
    );
  });

  it('refuses v6-only fields in v5 and requires them in v6', () => {
    assert.throws(() => encodeCommand(5, { kind: 'gapScanStart', params: scanV5, reportBuffer: null }), (e) => hasCode(e, 'INVALID_ARGUMENT'));
    const roleCount = { id: 'gapRoleCount', periphRoleCount: 0, centralRoleCount: 1, centralSecCount: 0 } as const;
    assert.throws(() => encodeCommand(6, { kind: 'cfgSet', config: roleCount }), (e) => hasCode(e, 'INVALID_ARGUMENT') && /advSetCount/.test(e.message));
    assert.throws(
      () => encodeCommand(5, { kind: 'cfgSet', config: { ...roleCount, advSetCount: 1, qosChannelSurveyRoleAvailable: false } }),
      (e) => hasCode(e, 'INVALID_ARGUMENT'),
    );
  });

  it('refuses values that do not fit their field, naming the call and the field', () => {
    assert.throws(
      () => encodeCommand(6, { kind: 'gattcExchangeMtuRequest', connHandle: 0, clientRxMtu: 70000 }),
      (e) => hasCode(e, 'INVALID_ARGUMENT') && e.message.includes('sd_ble_gattc_exchange_mtu_request') && e.message.includes('clientRxMtu'),
    );
    assert.throws(() => encodeCommand(5, { kind: 'uuidVsAdd', base: new Uint8Array(15) }), (e) => hasCode(e, 'INVALID_ARGUMENT'));
  });

  it('rejects an unknown opcode and a presence byte other than 0/1', () => {
    assert.throws(() => decodeCommand(6, fromHex('94')), (e) => hasCode(e, 'MALFORMED_PACKET') && e.facts.context?.['nrfError'] === 'NRF_ERROR_NOT_SUPPORTED');
    assert.throws(
      () => decodeCommand(6, fromHex('9b0000010002')),
      (e) => hasCode(e, 'MALFORMED_PACKET') && e.facts.context?.['nrfError'] === 'NRF_ERROR_INVALID_DATA',
    );
  });

  it('builds the serialization reset command of the h5_link vectors', NEEDS_NRF_VECTORS, () => {
    const payloads = new Map(h5LinkVectors().vectors.map((v) => [v.name, v.input.payload_hex]));
    assert.equal(toHex(resetCommandPacket('system')), payloads.get('reset_cmd_sys_reset'));
    assert.equal(toHex(resetCommandPacket('soft')), payloads.get('reset_cmd_soft_reset'));
  });
});
