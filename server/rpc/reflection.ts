/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha ServerReflection), so grpcurl, Postman
 * and other languages' tooling can list and describe the service without a copy of proto/. The
 * descriptors come from buf (scripts/generate.mjs embeds the FileDescriptorSet); the few fields
 * of the reflection messages are encoded here, which needs no reflection package.
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import type { CallContext, ServiceImplementation } from 'nice-grpc';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../../proto/gen/descriptors.js';
import { quoteInput } from '../common/quote.js';

/** One file of the descriptor set: its encoded FileDescriptorProto and what it declares. */
interface FileEntry {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly dependencies: readonly string[];
  readonly symbols: readonly string[];
  readonly services: readonly string[];
}

export interface DescriptorIndex {
  readonly files: ReadonlyMap<string, FileEntry>;
  readonly fileBySymbol: ReadonlyMap<string, FileEntry>;
  readonly services: readonly string[];
}

/** Field numbers in google/protobuf/descriptor.proto. */
const F = { set: { file: 1 }, file: { name: 1, package: 2, dependency: 3, message: 4, enum: 5, service: 6 }, message: { name: 1, nested: 3, enum: 4 }, service: { name: 1, method: 2 } };

function fields(bytes: Uint8Array, visit: (field: number, r: BinaryReader, wireType: number) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (!visit(field, r, type)) r.skip(type);
  }
}

function nameOf(bytes: Uint8Array): string {
  let name = '';
  fields(bytes, (f, r, t) => (f === 1 && t === 2 ? ((name = r.string()), true) : false));
  return name;
}

function messageSymbols(bytes: Uint8Array, prefix: string, out: string[]): void {
  const full = `${prefix}.${nameOf(bytes)}`;
  out.push(full);
  fields(bytes, (f, r, t) => {
    if (t !== 2) return false;
    if (f === F.message.nested) messageSymbols(r.bytes(), full, out);
    else if (f === F.message.enum) out.push(`${full}.${nameOf(r.bytes())}`);
    else return false;
    return true;
  });
}

function indexFile(bytes: Uint8Array): FileEntry {
  let name = '';
  let pkg = '';
  const dependencies: string[] = [];
  const messages: Uint8Array[] = [];
  const enums: Uint8Array[] = [];
  const services: Uint8Array[] = [];
  fields(bytes, (f, r, t) => {
    if (t !== 2) return false;
    if (f === F.file.name) name = r.string();
    else if (f === F.file.package) pkg = r.string();
    else if (f === F.file.dependency) dependencies.push(r.string());
    else if (f === F.file.message) messages.push(r.bytes());
    else if (f === F.file.enum) enums.push(r.bytes());
    else if (f === F.file.service) services.push(r.bytes());
    else return false;
    return true;
  });
  const prefix = pkg === '' ? '' : pkg;
  const qualify = (n: string): string => (prefix === '' ? n : `${prefix}.${n}`);
  const symbols: string[] = [];
  for (const m of messages) messageSymbols(m, prefix, symbols);
  for (const e of enums) symbols.push(qualify(nameOf(e)));
  const serviceNames: string[] = [];
  for (const s of services) {
    const service = qualify(nameOf(s));
    serviceNames.push(service);
    symbols.push(service);
    fields(s, (f, r, t) => (f === F.service.method && t === 2 ? (symbols.push(`${service}.${nameOf(r.bytes())}`), true) : false));
  }
  // Symbols of a file without a package were qualified with a leading dot above; drop it.
  return { name, bytes, dependencies, symbols: symbols.map((s) => s.replace(/^\./, '')), services: serviceNames };
}

export function indexDescriptors(fileDescriptorSet: Uint8Array): DescriptorIndex {
  const files = new Map<string, FileEntry>();
  const fileBySymbol = new Map<string, FileEntry>();
  fields(fileDescriptorSet, (f, r, t) => {
    if (f !== F.set.file || t !== 2) return false;
    const entry = indexFile(r.bytes());
    files.set(entry.name, entry);
    for (const s of entry.symbols) fileBySymbol.set(s, entry);
    return true;
  });
  return { files, fileBySymbol, services: [...files.values()].flatMap((e) => e.services) };
}

/** The file and everything it imports, each once, imports first (as protoc-based tools expect). */
function withDependencies(index: DescriptorIndex, root: FileEntry): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (e: FileEntry): void => {
    if (seen.has(e.name)) return;
    seen.add(e.name);
    for (const d of e.dependencies) {
      const dep = index.files.get(d);
      if (dep !== undefined) visit(dep);
    }
    out.push(e.bytes);
  };
  visit(root);
  return out;
}

export type ReflectionRequest =
  | { readonly host: string; readonly kind: 'fileByFilename' | 'fileContainingSymbol' | 'listServices' | 'allExtensionNumbersOfType'; readonly value: string }
  | { readonly host: string; readonly kind: 'fileContainingExtension' | 'unknown'; readonly raw: Uint8Array };

export type ReflectionResponse =
  | { readonly kind: 'files'; readonly files: readonly Uint8Array[] }
  | { readonly kind: 'services'; readonly services: readonly string[] }
  | { readonly kind: 'error'; readonly code: number; readonly message: string };

interface Exchange {
  readonly request: ReflectionRequest;
  readonly requestBytes: Uint8Array;
  readonly response: ReflectionResponse;
}

const REQUEST_FIELDS: Record<number, 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices'> = {
  3: 'fileByFilename',
  4: 'fileContainingSymbol',
  6: 'allExtensionNumbersOfType',
  7: 'listServices',
};

interface DecodedRequest {
  readonly request: ReflectionRequest;
  readonly bytes: Uint8Array;
}

function decodeRequest(bytes: Uint8Array): DecodedRequest {
  let host = '';
  let request: ReflectionRequest | undefined;
  fields(bytes, (f, r, t) => {
    if (t !== 2) return false;
    if (f === 1) host = r.string();
    else if (REQUEST_FIELDS[f] !== undefined) request = { host: '', kind: REQUEST_FIELDS[f], value: r.string() };
    else if (f === 5) request = { host: '', kind: 'fileContainingExtension', raw: r.bytes() };
    else return false;
    return true;
  });
  return { request: { ...(request ?? { kind: 'unknown', raw: bytes, host: '' }), host }, bytes };
}

function encodeRequest(m: DecodedRequest | ReflectionRequest): Uint8Array {
  if ('bytes' in m) return m.bytes;
  const w = new BinaryWriter();
  if (m.host !== '') w.uint32(10).string(m.host);
  if ('value' in m) {
    const field = Number(Object.entries(REQUEST_FIELDS).find(([, k]) => k === m.kind)?.[0]);
    w.uint32((field << 3) | 2).string(m.value);
  }
  return w.finish();
}

function encodeResponse(m: Exchange): Uint8Array {
  const w = new BinaryWriter();
  if (m.request.host !== '') w.uint32(10).string(m.request.host);
  w.uint32(18).bytes(m.requestBytes);
  const r = m.response;
  if (r.kind === 'files') {
    const inner = new BinaryWriter();
    for (const f of r.files) inner.uint32(10).bytes(f);
    w.uint32(34).bytes(inner.finish());
  } else if (r.kind === 'services') {
    const inner = new BinaryWriter();
    for (const s of r.services) inner.uint32(10).bytes(new BinaryWriter().uint32(10).string(s).finish());
    w.uint32(50).bytes(inner.finish());
  } else {
    w.uint32(58).bytes(new BinaryWriter().uint32(8).int32(r.code).uint32(18).string(r.message).finish());
  }
  return w.finish();
}

function decodeResponse(bytes: Uint8Array): ReflectionResponse {
  let response: ReflectionResponse = { kind: 'error', code: 2, message: 'empty response' };
  fields(bytes, (f, r, t) => {
    if (t !== 2) return false;
    if (f === 4) {
      const files: Uint8Array[] = [];
      fields(r.bytes(), (g, rr, tt) => (g === 1 && tt === 2 ? (files.push(rr.bytes()), true) : false));
      response = { kind: 'files', files };
    } else if (f === 6) {
      const services: string[] = [];
      fields(r.bytes(), (g, rr, tt) => (g === 1 && tt === 2 ? (services.push(nameOf(rr.bytes())), true) : false));
      response = { kind: 'services', services };
    } else if (f === 7) {
      let code = 0;
      let message = '';
      fields(r.bytes(), (g, rr, tt) => {
        if (g === 1 && tt === 0) code = rr.int32();
        else if (g === 2 && tt === 2) message = rr.string();
        else return false;
        return true;
      });
      response = { kind: 'error', code, message };
    } else return false;
    return true;
  });
  return response;
}

function method(path: string) {
  return {
    path,
    requestStream: true,
    responseStream: true,
    options: {},
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: decodeResponse,
  } as const;
}

export const ReflectionV1Definition = {
  serverReflectionInfo: method('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo'),
} as const;
export const ReflectionV1AlphaDefinition = {
  serverReflectionInfo: method('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'),
} as const;

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

export function answer(index: DescriptorIndex, listed: readonly string[], request: ReflectionRequest): ReflectionResponse {
  const notFound = (what: string): ReflectionResponse => ({ kind: 'error', code: NOT_FOUND, message: `${what} not found` });
  switch (request.kind) {
    case 'listServices':
      return { kind: 'services', services: listed };
    case 'fileByFilename': {
      const file = index.files.get(request.value);
      return file === undefined ? notFound(`file ${quoteInput(request.value)}`) : { kind: 'files', files: withDependencies(index, file) };
    }
    case 'fileContainingSymbol': {
      const file = index.fileBySymbol.get(request.value.replace(/^\./, ''));
      return file === undefined ? notFound(`symbol ${quoteInput(request.value)}`) : { kind: 'files', files: withDependencies(index, file) };
    }
    default:
      // Our protos declare no extensions.
      return { kind: 'error', code: UNIMPLEMENTED, message: 'extensions are not supported' };
  }
}

/** The reflection service over the embedded descriptors; `extraServices` are served but not described there. */
export function createReflectionService(extraServices: readonly string[]): ServiceImplementation<typeof ReflectionV1Definition> {
  const index = indexDescriptors(Buffer.from(FILE_DESCRIPTOR_SET_BASE64, 'base64'));
  const listed = [...new Set([...index.services, ...extraServices])].sort();
  return {
    async *serverReflectionInfo(requests: AsyncIterable<DecodedRequest>, _context: CallContext): AsyncGenerator<Exchange> {
      for await (const { request, bytes } of requests) {
        yield { request, requestBytes: bytes, response: answer(index, listed, request) };
      }
    },
  };
}
