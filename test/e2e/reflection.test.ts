/**
 * gRPC server reflection through a real gRPC client, both protocol versions: the service list
 * names BledfuService, and its file comes back with the files it imports, so a tool can decode
 * every message without a copy of proto/.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { createChannel, createClient } from 'nice-grpc';
import { ReflectionV1AlphaDefinition, ReflectionV1Definition, type ReflectionRequest, type ReflectionResponse } from '../../server/rpc/reflection.js';
import { startSimServer } from '../helpers/sim-server.js';

/** The `name` (field 1) of an encoded FileDescriptorProto. */
function fileName(bytes: Uint8Array): string {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === 2) return r.string();
    r.skip(type);
  }
  return '';
}

async function* requests(list: readonly ReflectionRequest[]): AsyncGenerator<ReflectionRequest> {
  yield* list;
}

describe('server reflection', () => {
  for (const [version, definition] of [
    ['v1', ReflectionV1Definition],
    ['v1alpha', ReflectionV1AlphaDefinition],
  ] as const) {
    it(`${version}: lists the services and describes BledfuService with its imports`, { timeout: 30_000 }, async () => {
      const s = await startSimServer();
      const channel = createChannel(s.address);
      try {
        const client = createClient(definition, channel);
        const answers: ReflectionResponse[] = [];
        for await (const r of client.serverReflectionInfo(
          requests([
            { host: '', kind: 'listServices', value: '*' },
            { host: '', kind: 'fileContainingSymbol', value: 'bledfu.v1.BledfuService' },
            { host: '', kind: 'fileContainingSymbol', value: 'bledfu.v1.BledfuService.Scan' },
            { host: '', kind: 'fileContainingSymbol', value: 'no.such.Thing' },
            { host: '', kind: 'fileContainingSymbol', value: 'grpc.health.v1.Health' },
          ]),
        )) {
          answers.push(r);
        }
        assert.equal(answers.length, 5);
        const [list, service, method, missing, health] = answers;

        assert.equal(list?.kind, 'services');
        const services = list?.kind === 'services' ? list.services : [];
        for (const name of ['bledfu.v1.BledfuService', 'grpc.health.v1.Health', `grpc.reflection.${version}.ServerReflection`]) {
          assert.ok(services.includes(name), `${name} in ${services.join(', ')}`);
        }

        assert.equal(service?.kind, 'files');
        const files = service?.kind === 'files' ? service.files.map(fileName) : [];
        assert.equal(files.at(-1), 'bledfu/v1/service.proto', 'the file asked for comes last, after its imports');
        assert.ok(files.includes('bledfu/v1/scan.proto'), `imports included: ${files.join(', ')}`);
        assert.ok(files.includes('google/protobuf/duration.proto'), `well-known imports included: ${files.join(', ')}`);
        assert.equal(new Set(files).size, files.length, 'each file once');

        assert.equal(method?.kind, 'files');
        assert.equal(method?.kind === 'files' ? fileName(method.files.at(-1) ?? new Uint8Array()) : '', 'bledfu/v1/service.proto');

        assert.equal(missing?.kind, 'error');
        assert.equal(missing?.kind === 'error' ? missing.code : 0, 5, 'NOT_FOUND');

        // The health protocol is generated from proto/grpc/health/v1, so it is described too.
        assert.equal(health?.kind, 'files');
        assert.deepEqual(health?.kind === 'files' ? health.files.map(fileName) : [], ['grpc/health/v1/health.proto']);
      } finally {
        channel.close();
        await s.close();
      }
    });
  }

  it('describes the messages of a failed call\'s status details, so tools decode them without googleapis', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    const channel = createChannel(s.address);
    try {
      const client = createClient(ReflectionV1Definition, channel);
      const answers: ReflectionResponse[] = [];
      for await (const r of client.serverReflectionInfo(
        requests(['google.rpc.Status', 'google.rpc.ErrorInfo', 'bledfu.v1.ErrorDetail'].map((value) => ({ host: '', kind: 'fileContainingSymbol', value }))),
      )) {
        answers.push(r);
      }
      const last = answers.map((a) => (a.kind === 'files' ? fileName(a.files.at(-1) ?? new Uint8Array()) : `error ${a.kind}`));
      assert.deepEqual(last, ['google/rpc/status.proto', 'google/rpc/error_details.proto', 'bledfu/v1/common.proto']);
      const status = answers[0];
      assert.ok(
        status?.kind === 'files' && status.files.map(fileName).includes('google/protobuf/any.proto'),
        'google.rpc.Status comes with google.protobuf.Any, which its details use',
      );
    } finally {
      channel.close();
      await s.close();
    }
  });
});
