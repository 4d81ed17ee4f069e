/**
 * Deadlines are honoured: a call whose deadline passes ends with DEADLINE_EXCEEDED on the client
 * and its radio work stops on the server (the controller leaves the scan, no link stays up).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Client, credentials, status as Status, type ClientReadableStream } from '@grpc/grpc-js';
import { ScanRequest, ScanResponse } from '../../proto/gen/bledfu/v1/scan.js';
import { startSimServer } from '../helpers/sim-server.js';

const SCAN_FOREVER: ScanRequest = {
  adapterId: '',
  filter: { name: 'nobody-advertises-this', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false },
  duration: undefined,
  allowDuplicates: false,
  active: true,
};

function grpcCode(e: unknown): unknown {
  return (e as { code?: unknown }).code;
}

/**
 * Our TypeScript client (nice-grpc) has no deadline option; other languages' clients send one as
 * the grpc-timeout header, which is what grpc-js's own client does here.
 */
function scanWithDeadline(address: string, request: ScanRequest, deadline: Date): { stream: ClientReadableStream<ScanResponse>; close(): void } {
  const client = new Client(address, credentials.createInsecure());
  const stream = client.makeServerStreamRequest(
    '/bledfu.v1.BledfuService/Scan',
    (r: ScanRequest) => Buffer.from(ScanRequest.encode(r).finish()),
    (b: Buffer) => ScanResponse.decode(b),
    request,
    { deadline },
  );
  return { stream, close: () => client.close() };
}

describe('deadlines', () => {
  it('a Scan past its deadline ends with DEADLINE_EXCEEDED and the controller stops scanning', { timeout: 30_000 }, async () => {
    const s = await startSimServer();
    try {
      let error: unknown;
      try {
        // No duration and a filter nothing matches: only the deadline can end this call.
        const call = scanWithDeadline(s.address, SCAN_FOREVER, new Date(Date.now() + 300));
        try {
          for await (const r of call.stream as AsyncIterable<ScanResponse>) {
            assert.fail(`unexpected advertisement ${JSON.stringify(r.advertisement?.address)}`);
          }
        } finally {
          call.close();
        }
      } catch (e) {
        error = e;
      }
      assert.equal(grpcCode(error), Status.DEADLINE_EXCEEDED, `ended with ${String(error)}`);
      assert.ok(s.air.scans >= 1, 'the scan reached the controller');
      await s.scanStopped();
      assert.equal(s.air.scanning, false);
      assert.equal(s.world.air.busy, false);
    } finally {
      await s.close();
    }
  });
});
