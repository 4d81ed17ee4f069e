import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { encodeH5, h5Frame, vendorPacket } from '../../../../server/backends/nrf/h5.js';
import { EVENT_KINDS, EVENTS, type EventKind } from '../../../../server/backends/nrf/serialization/constants.js';
import { decodeEvent, encodeEvent, type NrfEvent } from '../../../../server/backends/nrf/serialization/events.js';
import { decodeSerPacket } from '../../../../server/backends/nrf/serialization/packets.js';
import type { ConnParams, DataLengthParams, GapAddr } from '../../../../server/backends/nrf/serialization/structs.js';
import {
  APIS,
  eventVectors,
  flagOf,
  list,
  NRF_DECODER_ERRORS,
  num,
  obj,
  str,
  type Api,
  type EventVector,
  type JsonObject,
  NEEDS_NRF_VECTORS,
} from '../../../helpers/nrf-vectors.js';

const KIND_BY_ID: ReadonlyMap<number, EventKind> = new Map(EVENT_KINDS.map((k) => [EVENTS[k].id, k]));

const addrFrom = (a: JsonObject): GapAddr => ({
  idPeer: flagOf(a, 'addr_id_peer'),
  type: num(a, 'addr_type'),
  address: fromHex(str(a, 'addr_lsb_first_hex')),
});

const connParamsFrom = (c: JsonObject): ConnParams => ({
  minConnInterval: num(c, 'min_conn_interval'),
  maxConnInterval: num(c, 'max_conn_interval'),
  slaveLatency: num(c, 'slave_latency'),
  connSupTimeout: num(c, 'conn_sup_timeout'),
});

const dataLengthFrom = (d: JsonObject): DataLengthParams => ({
  maxTxOctets: num(d, 'max_tx_octets'),
  maxRxOctets: num(d, 'max_rx_octets'),
  maxTxTimeUs: num(d, 'max_tx_time_us'),
  maxRxTimeUs: num(d, 'max_rx_time_us'),
});

const uuidFrom = (u: JsonObject): { uuid: number; type: number } => ({ uuid: num(u, 'uuid'), type: num(u, 'type') });

/** `len` + `data_hex` (or `dlen` / `data_len`) of a decoded event, checked against each other. */
function dataFrom(d: JsonObject, lenKey: string): Uint8Array {
  const data = fromHex(str(d, 'data_hex'));
  assert.equal(data.length, num(d, lenKey), `${lenKey} matches the data`);
  return data;
}

/**
 * What Nordic's decoder reported, as our typed event. Buffer ids of API v6 are not part of what
 * Nordic's decoder reports (it turns them back into the registered host pointer), so they come
 * from `constructed_from` (or are 0 where the layout says the bytes are all zero).
 */
function eventFrom(api: Api, v: EventVector): NrfEvent {
  const d = v.decoded;
  if (d === undefined) throw new Error(`${v.name} has no decoded fields`);
  const made = (v as unknown as { constructed_from?: JsonObject }).constructed_from ?? {};
  const id = num(d, 'evt_id');
  const kind = KIND_BY_ID.get(id);
  if (kind === undefined) throw new Error(`event id 0x${id.toString(16)} (${v.name}) is not implemented by the event codec`);
  const connHandle = num(d, 'conn_handle');
  const gattc = (): { connHandle: number; gattStatus: number; errorHandle: number } => ({
    connHandle,
    gattStatus: num(d, 'gatt_status'),
    errorHandle: num(d, 'error_handle'),
  });
  const counted = <T>(key: string, map: (o: JsonObject) => T): T[] => {
    const items = list(d, key).map(map);
    assert.equal(items.length, num(d, 'count'));
    return items;
  };
  switch (kind) {
    case 'userMemRequest':
      return { kind, connHandle, type: num(d, 'type') };
    case 'gapConnected': {
      const base = { kind, connHandle, peerAddr: addrFrom(obj(d, 'peer_addr')), role: num(d, 'role'), connParams: connParamsFrom(obj(d, 'conn_params')) } as const;
      if (api === 5) return base;
      const adv = obj(d, 'adv_data');
      return {
        ...base,
        advHandle: num(d, 'adv_handle'),
        advData: { bufferId: 0, len: num(adv, 'adv_data_len') },
        scanRspData: { bufferId: 0, len: num(adv, 'scan_rsp_data_len') },
      };
    }
    case 'gapDisconnected':
      return { kind, connHandle, reason: num(d, 'reason') };
    case 'gapConnParamUpdate':
    case 'gapConnParamUpdateRequest':
      return { kind, connHandle, connParams: connParamsFrom(obj(d, 'conn_params')) };
    case 'gapTimeout': {
      const src = num(d, 'src');
      if (d['adv_report_buffer'] === undefined) return { kind, connHandle, src };
      const buffer = obj(d, 'adv_report_buffer');
      assert.equal(buffer['p_data_is_null'], false);
      return { kind, connHandle, src, releasedBuffer: { bufferId: num(made, 'buf_id'), len: num(buffer, 'len') } };
    }
    case 'gapAdvReport': {
      const common = {
        kind,
        connHandle,
        peerAddr: addrFrom(obj(d, 'peer_addr')),
        directAddr: addrFrom(obj(d, 'direct_addr')),
        rssi: num(d, 'rssi'),
      } as const;
      if (api === 5) {
        return { ...common, api, scanRsp: flagOf(d, 'scan_rsp'), type: num(d, 'type'), data: dataFrom(d, 'dlen') };
      }
      const t = obj(d, 'type');
      const aux = obj(d, 'aux_pointer');
      return {
        ...common,
        api,
        type: {
          connectable: flagOf(t, 'connectable'),
          scannable: flagOf(t, 'scannable'),
          directed: flagOf(t, 'directed'),
          scanResponse: flagOf(t, 'scan_response'),
          extendedPdu: flagOf(t, 'extended_pdu'),
          status: num(t, 'status'),
          reserved: num(t, 'reserved'),
        },
        primaryPhy: num(d, 'primary_phy'),
        secondaryPhy: num(d, 'secondary_phy'),
        txPower: num(d, 'tx_power'),
        chIndex: num(d, 'ch_index'),
        setId: num(d, 'set_id'),
        dataId: num(d, 'data_id'),
        bufferId: num(made, 'buf_id'),
        data: dataFrom(d, 'data_len'),
        auxPointer: { auxOffset: num(aux, 'aux_offset'), auxPhy: num(aux, 'aux_phy') },
      };
    }
    case 'gapPhyUpdateRequest': {
      const p = obj(d, 'peer_preferred_phys');
      return { kind, connHandle, peerPreferredPhys: { txPhys: num(p, 'tx_phys'), rxPhys: num(p, 'rx_phys') } };
    }
    case 'gapPhyUpdate':
      return { kind, connHandle, status: num(d, 'status'), txPhy: num(d, 'tx_phy'), rxPhy: num(d, 'rx_phy') };
    case 'gapDataLengthUpdateRequest':
      return { kind, connHandle, peerParams: dataLengthFrom(obj(d, 'peer_params')) };
    case 'gapDataLengthUpdate':
      return { kind, connHandle, effectiveParams: dataLengthFrom(obj(d, 'effective_params')) };
    case 'gattcPrimSrvcDiscRsp':
      return {
        kind,
        ...gattc(),
        services: counted('services', (s) => ({ uuid: uuidFrom(obj(s, 'uuid')), startHandle: num(s, 'start_handle'), endHandle: num(s, 'end_handle') })),
      };
    case 'gattcCharDiscRsp':
      return {
        kind,
        ...gattc(),
        chars: counted('chars', (c) => {
          const p = obj(c, 'char_props');
          return {
            uuid: uuidFrom(obj(c, 'uuid')),
            props: {
              broadcast: flagOf(p, 'broadcast'),
              read: flagOf(p, 'read'),
              writeWoResp: flagOf(p, 'write_wo_resp'),
              write: flagOf(p, 'write'),
              notify: flagOf(p, 'notify'),
              indicate: flagOf(p, 'indicate'),
              authSignedWr: flagOf(p, 'auth_signed_wr'),
            },
            extProps: flagOf(c, 'char_ext_props'),
            handleDecl: num(c, 'handle_decl'),
            handleValue: num(c, 'handle_value'),
          };
        }),
      };
    case 'gattcDescDiscRsp':
      return { kind, ...gattc(), descs: counted('descs', (x) => ({ handle: num(x, 'handle'), uuid: uuidFrom(obj(x, 'uuid')) })) };
    case 'gattcReadRsp':
      return { kind, ...gattc(), handle: num(d, 'handle'), offset: num(d, 'offset'), data: dataFrom(d, 'len') };
    case 'gattcWriteRsp':
      return { kind, ...gattc(), handle: num(d, 'handle'), writeOp: num(d, 'write_op'), offset: num(d, 'offset'), data: dataFrom(d, 'len') };
    case 'gattcHvx':
      return { kind, ...gattc(), handle: num(d, 'handle'), type: num(d, 'type'), data: dataFrom(d, 'len') };
    case 'gattcExchangeMtuRsp':
      return { kind, ...gattc(), serverRxMtu: num(d, 'server_rx_mtu') };
    case 'gattcTimeout':
      return { kind, ...gattc(), src: num(d, 'src') };
    case 'gattcWriteCmdTxComplete':
      return { kind, ...gattc(), count: num(d, 'count') };
    case 'gattsSysAttrMissing':
      return { kind, connHandle, hint: num(d, 'hint') };
    case 'gattsExchangeMtuRequest':
      return { kind, connHandle, clientRxMtu: num(d, 'client_rx_mtu') };
    case 'gattsHvnTxComplete':
      return { kind, connHandle, count: num(d, 'count') };
    default: {
      const never: never = kind;
      throw new Error(`unmapped ${String(never)}`);
    }
  }
}

for (const api of APIS) {
  describe(`events, API v${api} (every vector in events_v${api}.json)`, NEEDS_NRF_VECTORS, () => {
    for (const v of eventVectors(api)) {
      assert.equal(v.api, api);
      const packet = decodeSerPacket(fromHex(v.ser_packet_hex));

      it(`${v.name}: is an event packet in the H5 and SLIP frames of the vector`, () => {
        assert.equal(packet.kind, 'event');
        assert.equal(toHex(packet.body), v.codec_bytes_hex);
        assert.equal(toHex(encodeH5(vendorPacket(0, 1, fromHex(v.ser_packet_hex)))), v.h5_seq0_ack1_hex);
        assert.equal(toHex(h5Frame(vendorPacket(0, 1, fromHex(v.ser_packet_hex)))), v.slip_frame_hex);
      });

      if (v.decoder_err !== 0) {
        const nrfError = NRF_DECODER_ERRORS[v.expected_decoder_err ?? -1];
        it(`${v.name}: MALFORMED_PACKET (${String(nrfError)}), as Nordic's decoder refuses it`, () => {
          assert.equal(v.decoder_err, v.expected_decoder_err);
          assert.throws(
            () => decodeEvent(api, packet.body),
            (e) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'nrf' && e.facts.context?.['nrfError'] === nrfError,
          );
        });
        continue;
      }

      const expected = eventFrom(api, v);
      it(`${v.name}: decodes to what Nordic's decoder reported`, () => {
        assert.deepEqual(decodeEvent(api, packet.body), expected);
      });
      it(`${v.name}: encodes back to the same bytes`, () => {
        assert.equal(toHex(encodeEvent(api, expected)), v.codec_bytes_hex);
      });
      it(`${v.name}: a byte too few or too many is MALFORMED_PACKET (NRF_ERROR_INVALID_LENGTH)`, () => {
        const isInvalidLength = (e: unknown): boolean =>
          hasCode(e, 'MALFORMED_PACKET') && e.facts.context?.['nrfError'] === 'NRF_ERROR_INVALID_LENGTH';
        assert.throws(() => decodeEvent(api, packet.body.subarray(0, -1)), isInvalidLength);
        assert.throws(() => decodeEvent(api, fromHex(`${v.codec_bytes_hex}00`)), isInvalidLength);
      });
    }
  });
}

describe('event codec edge cases', () => {
  it('decodes the v6 scan timeout buffer only for src = scan', () => {
    assert.deepEqual(decodeEvent(6, fromHex('1b00ffff02')), { kind: 'gapTimeout', connHandle: 0xffff, src: 2 });
    assert.throws(() => decodeEvent(6, fromHex('1b00ffff01')), (e) => hasCode(e, 'MALFORMED_PACKET'));
    assert.throws(
      () => encodeEvent(5, { kind: 'gapTimeout', connHandle: 0xffff, src: 1, releasedBuffer: { bufferId: 1, len: 31 } }),
      (e) => hasCode(e, 'INVALID_ARGUMENT'),
    );
  });

  it('refuses an advertising report of the other API version', () => {
    const v5 = decodeEvent(5, fromHex('1d00ffff 025544332211c0 00000000000000 c4 00 02 01 0106'));
    assert.equal(v5.kind === 'gapAdvReport' && v5.api, 5);
    assert.throws(() => encodeEvent(6, v5), (e) => hasCode(e, 'INVALID_ARGUMENT'));
  });

  it('rejects an advertising report whose data is marked absent', () => {
    assert.throws(
      () => decodeEvent(5, fromHex('1d00ffff025544332211c000000000000000c4000000')),
      (e) => hasCode(e, 'MALFORMED_PACKET') && e.facts.context?.['nrfError'] === 'NRF_ERROR_INVALID_DATA',
    );
  });

  it('keeps only the 12 data-id bits of a v6 report, as Nordic does', () => {
    const bytes = fromHex('1d00ffff 0300 025544332211c0 00000000000000 01 ff 7f c4 26 ff 00f0 01000000 0100 01 02 0000 00');
    const ev = decodeEvent(6, bytes);
    assert.equal(ev.kind === 'gapAdvReport' && ev.api === 6 && ev.dataId, 0);
  });
});
