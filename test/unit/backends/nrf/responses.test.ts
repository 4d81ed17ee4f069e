import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import { SD_FUNCTIONS, type CommandKind } from '../../../../server/backends/nrf/serialization/constants.js';
import { decodeSerPacket } from '../../../../server/backends/nrf/serialization/packets.js';
import { decodeResponse, encodeResponse, type NrfResponse } from '../../../../server/backends/nrf/serialization/responses.js';
import { nrfResultName } from '../../../../server/backends/nrf/serialization/versions.js';
import {
  APIS,
  flagOf,
  NRF_DECODER_ERRORS,
  num,
  obj,
  objOrNull,
  responseVectors,
  str,
  type ResponseVector,
  NEEDS_NRF_VECTORS,
} from '../../../helpers/nrf-vectors.js';

const KIND_BY_FUNCTION: ReadonlyMap<string, CommandKind> = new Map(
  Object.entries(SD_FUNCTIONS).map(([kind, fn]): [string, CommandKind] => [fn, kind as CommandKind]),
);

/** The command a response vector answers: its name, or `decoded_as` for the negative ones. */
function kindOf(v: ResponseVector): CommandKind {
  const name = typeof v['decoded_as'] === 'string' ? v['decoded_as'] : v.name;
  // Vector names drop the `sd_ble_` prefix, except sd_ble_enable which is named ble_enable.
  const kind = KIND_BY_FUNCTION.get(`sd_ble_${name}`) ?? KIND_BY_FUNCTION.get(`sd_${name}`);
  if (kind === undefined) throw new Error(`response ${name} is not implemented by the response codec`);
  return kind;
}

/** What Nordic's decoder reported, as our typed response. */
function responseFrom(v: ResponseVector, kind: CommandKind): NrfResponse {
  const result = num(v, 'result_code');
  const ok = result === 0;
  switch (kind) {
    case 'uuidVsAdd':
      return { kind, result, output: ok ? { uuidType: num(v, 'uuid_type') } : null };
    case 'versionGet':
      return {
        kind,
        result,
        output: ok
          ? { version: { versionNumber: num(v, 'version_number'), companyId: num(v, 'company_id'), subversionNumber: num(v, 'subversion_number') } }
          : null,
      };
    case 'gapAddrGet': {
      const a = obj(v, 'addr');
      return {
        kind,
        result,
        output: ok ? { addr: { idPeer: flagOf(a, 'addr_id_peer'), type: num(a, 'addr_type'), address: fromHex(str(a, 'addr_lsb_first_hex')) } } : null,
      };
    }
    case 'gapDataLengthUpdate': {
      const l = objOrNull(v, 'limitation');
      const limitation =
        l === null
          ? null
          : {
              txPayloadLimitedOctets: num(l, 'tx_payload_limited_octets'),
              rxPayloadLimitedOctets: num(l, 'rx_payload_limited_octets'),
              txRxTimeLimitedUs: num(l, 'tx_rx_time_limited_us'),
            };
      return { kind, result, output: ok ? { limitation } : null };
    }
    default:
      return { kind, result } as NrfResponse;
  }
}

for (const api of APIS) {
  describe(`responses, API v${api} (every vector in responses_v${api}.json)`, NEEDS_NRF_VECTORS, () => {
    for (const v of responseVectors(api)) {
      assert.equal(v.api, api);
      const kind = kindOf(v);
      const packet = decodeSerPacket(fromHex(v.ser_packet_hex));
      const label = `${v.name} ${v.codec_bytes_hex}`;

      it(`${label}: is a response packet carrying the codec bytes`, () => {
        assert.equal(packet.kind, 'response');
        assert.equal(toHex(packet.body), v.codec_bytes_hex);
      });

      if (v.decoder_err !== 0) {
        const nrfError = NRF_DECODER_ERRORS[num(v, 'expected_decoder_err')];
        it(`${label}: MALFORMED_PACKET (${String(nrfError)}), as Nordic's decoder refuses it`, () => {
          assert.equal(v.decoder_err, v['expected_decoder_err']);
          assert.throws(
            () => decodeResponse(api, kind, packet.body),
            (e) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'nrf' && e.facts.context?.['nrfError'] === nrfError,
          );
        });
        continue;
      }

      const expected = responseFrom(v, kind);
      it(`${label}: decodes to what Nordic's decoder reported`, () => {
        assert.deepEqual(decodeResponse(api, kind, packet.body), expected);
      });
      it(`${label}: encodes back to the same bytes`, () => {
        assert.equal(toHex(encodeResponse(api, expected)), v.codec_bytes_hex);
      });
    }
  });
}

describe('response codec edge cases', () => {
  it('requires the output of a successful call when encoding', () => {
    assert.throws(() => encodeResponse(6, { kind: 'versionGet', result: 0, output: null }), (e) => hasCode(e, 'INVALID_ARGUMENT'));
  });

  it('sends no output with an error result, even where the call has one', () => {
    assert.equal(toHex(encodeResponse(5, { kind: 'uuidVsAdd', result: 4, output: null })), '6204000000');
    assert.deepEqual(decodeResponse(5, 'uuidVsAdd', fromHex('6204000000')), { kind: 'uuidVsAdd', result: 4, output: null });
  });

  it('routes by the opcode of the API version in use', () => {
    assert.deepEqual(decodeResponse(6, 'gattcWrite', fromHex('a313000000')), { kind: 'gattcWrite', result: 19 });
    assert.throws(() => decodeResponse(5, 'gattcWrite', fromHex('a313000000')), (e) => hasCode(e, 'MALFORMED_PACKET'));
  });

  it('names result codes per API version', () => {
    assert.equal(nrfResultName(5, 17), 'NRF_ERROR_BUSY (17)');
    assert.equal(nrfResultName(5, 0x3004), 'BLE_ERROR_INVALID_ROLE (0x3004)');
    assert.equal(nrfResultName(6, 0x3004), 'BLE_ERROR_INVALID_ADV_HANDLE (0x3004)');
    assert.equal(nrfResultName(6, 0x3005), 'BLE_ERROR_INVALID_ROLE (0x3005)');
    assert.equal(nrfResultName(6, 0x8005), 'unknown result (0x8005)');
  });
});
