/**
 * The byte-exact vectors of ../shared/vectors/nrf-connectivity (produced with Nordic's own
 * codecs, see that folder's README.md), loaded as plain JSON. They are third-party reference data,
 * read from beside the repository (shared-packages.ts): a describe that reads them takes the
 * NEEDS_NRF_VECTORS option, so it skips with a clear message where ../shared is absent, and
 * fails under CI. Tests iterate over whole files, so a vector added there is covered automatically.
 */
import { needsShared, sharedFile } from './shared-packages.js';

const WHY = "byte-exact vectors made with Nordic's own connectivity codecs";

/** describe/it option of every test that reads these vectors. */
export const NEEDS_NRF_VECTORS = needsShared('vectors/nrf-connectivity', WHY);

const cache = new Map<string, unknown>();

function load<T>(name: string): T {
  if (!cache.has(name)) cache.set(name, JSON.parse(new TextDecoder().decode(sharedFile('vectors/nrf-connectivity', name, WHY))));
  return cache.get(name) as T;
}

export type Api = 5 | 6;
export const APIS: readonly Api[] = [5, 6];

/** JSON values as they appear in the vectors (params, decoded fields). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface H5Vector {
  readonly name: string;
  readonly input: {
    readonly payload_hex: string;
    readonly seq: number;
    readonly ack: number;
    readonly data_integrity: boolean;
    readonly reliable: boolean;
    readonly packet_type: number;
  };
  readonly h5_hex: string;
  readonly slip_frame_hex: string;
  readonly roundtrip: {
    readonly slip_decode_err: number;
    readonly h5_decode_err: number;
    readonly seq: number;
    readonly ack: number;
    readonly data_integrity: boolean;
    readonly reliable: boolean;
    readonly packet_type: number;
    readonly payload_length: number;
    readonly header_checksum: number;
    readonly payload_hex: string;
  };
}

export interface CrcVector {
  readonly name: string;
  readonly input_ascii?: string;
  readonly input_hex?: string;
  readonly crc: number;
  readonly crc_hex: string;
}

export interface TranscriptStep {
  readonly step: number;
  readonly direction: 'host->device' | 'device->host';
  readonly what: string;
  readonly payload_hex: string;
  readonly seq: number;
  readonly ack: number;
  readonly reliable: boolean;
  readonly packet_type: number;
  readonly h5_hex: string;
  readonly slip_frame_hex: string;
}

export interface H5LinkFile {
  readonly vectors: readonly H5Vector[];
  readonly crc16: readonly CrcVector[];
  readonly transcript_first_contact: readonly TranscriptStep[];
}

export interface CommandVector {
  readonly api: Api;
  readonly name: string;
  readonly function: string;
  readonly encoder_err: number;
  readonly opcode: number;
  readonly params: JsonObject;
  readonly codec_bytes_hex: string;
  readonly ser_packet_hex: string;
  readonly h5_seq0_ack0_hex: string;
  readonly slip_frame_hex: string;
}

export interface ResponseVector extends JsonObject {
  readonly api: Api;
  readonly name: string;
  readonly codec_bytes_hex: string;
  readonly ser_packet_hex: string;
  readonly decoder_err: number;
  readonly result_code: number | null;
}

export interface EventVector {
  readonly api: Api;
  readonly name: string;
  readonly codec_bytes_hex: string;
  readonly ser_packet_hex: string;
  readonly h5_seq0_ack1_hex: string;
  readonly slip_frame_hex: string;
  readonly decoder_err: number;
  readonly expected_decoder_err?: number;
  readonly decoded?: JsonObject;
}

interface VectorFile<T> {
  readonly vectors: readonly T[];
}

export const h5LinkVectors = (): H5LinkFile => load('h5_link.json');
export const commandVectors = (api: Api): readonly CommandVector[] =>
  load<VectorFile<CommandVector>>(`commands_v${api}.json`).vectors;
export const responseVectors = (api: Api): readonly ResponseVector[] =>
  load<VectorFile<ResponseVector>>(`responses_v${api}.json`).vectors;
export const eventVectors = (api: Api): readonly EventVector[] =>
  load<VectorFile<EventVector>>(`events_v${api}.json`).vectors;
export const constantsVectors = (): Record<`sd_api_v${Api}`, Record<string, number>> =>
  load<{ constants: Record<`sd_api_v${Api}`, Record<string, number>> }>('constants.json').constants;

/** Nordic's nrf_error.h names for the decoder errors the vectors report. */
export const NRF_DECODER_ERRORS: Readonly<Record<number, string>> = {
  5: 'NRF_ERROR_NOT_FOUND',
  9: 'NRF_ERROR_INVALID_LENGTH',
  11: 'NRF_ERROR_INVALID_DATA',
  12: 'NRF_ERROR_DATA_SIZE',
};

// ---- typed access to vector fields: a missing or mistyped field fails the test loudly ----

function field(o: JsonObject, key: string): Json {
  const v = o[key];
  if (v === undefined) throw new Error(`vector field ${key} is missing in ${JSON.stringify(o).slice(0, 200)}`);
  return v;
}

export function num(o: JsonObject, key: string): number {
  const v = field(o, key);
  if (typeof v !== 'number') throw new Error(`vector field ${key} is not a number: ${JSON.stringify(v)}`);
  return v;
}

export function str(o: JsonObject, key: string): string {
  const v = field(o, key);
  if (typeof v !== 'string') throw new Error(`vector field ${key} is not a string: ${JSON.stringify(v)}`);
  return v;
}

/** 0/1 (Nordic's bitfields) or true/false, as a boolean. */
export function flagOf(o: JsonObject, key: string): boolean {
  const v = field(o, key);
  if (v === 0 || v === false) return false;
  if (v === 1 || v === true) return true;
  throw new Error(`vector field ${key} is not a flag: ${JSON.stringify(v)}`);
}

export function obj(o: JsonObject, key: string): JsonObject {
  const v = field(o, key);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`vector field ${key} is not an object`);
  return v;
}

/** An object field that may be null (a NULL pointer in the C call). */
export function objOrNull(o: JsonObject, key: string): JsonObject | null {
  return field(o, key) === null ? null : obj(o, key);
}

export function list(o: JsonObject, key: string): JsonObject[] {
  const v = field(o, key);
  if (!Array.isArray(v)) throw new Error(`vector field ${key} is not a list`);
  return v.map((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`vector field ${key} holds a non-object`);
    return item;
  });
}
