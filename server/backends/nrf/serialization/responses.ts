/**
 * Command responses: `opcode u8` (that of the command), `result u32`, and only when the result is
 * NRF_SUCCESS the output parameters. A response is matched to the one outstanding command, so
 * decoding takes the kind that command had and checks the opcode against it.
 */
import { ByteWriter } from '../../../common/bytes.js';
import { cond, decodeExactly, present, serializationMalformed, struct, u32, u8, unencodable, type Codec } from './codec.js';
import { NRF_SUCCESS, SD_FUNCTIONS, type ApiVersion, type CommandKind } from './constants.js';
import {
  bleVersion,
  dataLengthLimitation,
  gapAddr,
  type BleVersion,
  type DataLengthLimitation,
  type GapAddr,
} from './structs.js';
import { apiTable } from './versions.js';

/** What the calls with output parameters return on success. */
export interface ResponseOutputs {
  readonly uuidVsAdd: { readonly uuidType: number };
  readonly versionGet: { readonly version: BleVersion };
  readonly gapAddrGet: { readonly addr: GapAddr };
  /** `limitation` is null when the command passed no limitation pointer. */
  readonly gapDataLengthUpdate: { readonly limitation: DataLengthLimitation | null };
}

type OutputKind = keyof ResponseOutputs;

export type NrfResponseOf<K extends CommandKind> = K extends OutputKind
  ? {
      readonly kind: K;
      readonly result: number;
      /** Present exactly when `result` is NRF_SUCCESS (0). */
      readonly output: ResponseOutputs[K] | null;
    }
  : { readonly kind: K; readonly result: number };

export type NrfResponse = { [K in CommandKind]: NrfResponseOf<K> }[CommandKind];

const OUTPUTS: { readonly [K in OutputKind]: Codec<ResponseOutputs[K]> } = {
  // Unlike version_get and addr_get, uuid_vs_add answers with a presence byte before its value.
  uuidVsAdd: struct<ResponseOutputs['uuidVsAdd']>({ uuidType: present(u8, 'uuid type') }),
  versionGet: struct<ResponseOutputs['versionGet']>({ version: bleVersion }),
  gapAddrGet: struct<ResponseOutputs['gapAddrGet']>({ addr: gapAddr }),
  gapDataLengthUpdate: struct<ResponseOutputs['gapDataLengthUpdate']>({ limitation: cond(dataLengthLimitation) }),
};

const hasOutput = (kind: CommandKind): kind is OutputKind => kind in OUTPUTS;

interface ResponseBody {
  readonly result: number;
  readonly output?: unknown;
}

function bodyCodec(kind: CommandKind): Codec<ResponseBody> {
  const output = hasOutput(kind) ? (OUTPUTS[kind] as Codec<unknown>) : undefined;
  return {
    write: (w, v) => {
      u32.write(w, v.result);
      if (output === undefined || v.result !== NRF_SUCCESS) return;
      if (v.output === null || v.output === undefined) throw unencodable(`a successful ${SD_FUNCTIONS[kind]} response needs its output`);
      output.write(w, v.output);
    },
    read: (r) => {
      const result = u32.read(r);
      if (output === undefined) return { result };
      return { result, output: result === NRF_SUCCESS ? output.read(r) : null };
    },
  };
}

/**
 * Decodes the response to a `expected` command. Wrong opcode: NRF_ERROR_INVALID_DATA; too short
 * or bytes left over: NRF_ERROR_DATA_SIZE (both MALFORMED_PACKET, as Nordic's decoders report).
 */
export function decodeResponse<K extends CommandKind>(api: ApiVersion, expected: K, bytes: Uint8Array): NrfResponseOf<K> {
  const fn = SD_FUNCTIONS[expected];
  const opcode = apiTable(api).opcodes[expected];
  if (bytes.length === 0) throw serializationMalformed(`empty response to ${fn}`, 'NRF_ERROR_DATA_SIZE', { command: fn });
  if (bytes[0] !== opcode) {
    throw serializationMalformed(
      `response opcode 0x${(bytes[0] as number).toString(16)} does not answer ${fn} (0x${opcode.toString(16)})`,
      'NRF_ERROR_INVALID_DATA',
      { command: fn },
    );
  }
  const body = decodeExactly(bodyCodec(expected), bytes.subarray(1), `${fn} response`, 'NRF_ERROR_DATA_SIZE', { command: fn });
  return { kind: expected, ...body } as unknown as NrfResponseOf<K>;
}

export function encodeResponse(api: ApiVersion, response: NrfResponse): Uint8Array {
  const { kind, ...body } = response;
  const w = new ByteWriter();
  w.u8(apiTable(api).opcodes[kind]);
  bodyCodec(kind).write(w, body);
  return w.finish();
}
