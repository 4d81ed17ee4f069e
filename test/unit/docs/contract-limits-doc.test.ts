/**
 * The limits the contract states in words (proto/bledfu/v1 comments, README "Request limits")
 * stay equal to the code's defaults: the package size limit and its message overhead, how long an
 * uploaded package is kept (the package store's budget), and the default and range of `retries`.
 * A change of a default that forgets the contract fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { REQUEST_OVERHEAD_BYTES } from '../../../server/app.js';
import { DEFAULT_CONFIG } from '../../../server/config/settings.js';
import { DEFAULT_DFU_OPTIONS } from '../../../server/dfu/types.js';
import { LABEL_LIMITS, RETRIES_MAX } from '../../../server/rpc/validate.js';
import { tableRows } from '../../helpers/markdown-tables.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const DFU_PROTO = read('proto/bledfu/v1/dfu.proto');
const MiB = 1024 * 1024;

/**
 * The comment above `declaration` (e.g. "bytes package_data = 1;") in `proto`, its lines joined
 * with single spaces, so a sentence wrapped over lines reads as one.
 */
function commentAbove(proto: string, declaration: string): string {
  const lines = proto.split('\n');
  const at = lines.findIndex((l) => l.trim() === declaration);
  assert.ok(at >= 0, `"${declaration}" is declared`);
  const comment: string[] = [];
  for (let i = at - 1; i >= 0 && (lines[i] as string).trim().startsWith('//'); i--) {
    comment.unshift((lines[i] as string).trim().replace(/^\/\/\s?/, ''));
  }
  assert.ok(comment.length > 0, `"${declaration}" has a comment`);
  return comment.join(' ');
}

/** The number in the one match of `pattern` (first group) in `text`. */
function numberIn(text: string, pattern: RegExp, what: string): number {
  const m = pattern.exec(text);
  assert.ok(m !== null, `${what}: ${pattern} in "${text}"`);
  return Number(m[1]);
}

describe('limits stated in the contract', () => {
  it('StartDfu package_data and UploadPackage chunks: the package limit (--max-request-bytes) and the message overhead', () => {
    for (const declaration of ['bytes package_data = 1;', 'bytes chunk = 1;']) {
      const comment = commentAbove(DFU_PROTO, declaration);
      assert.equal(numberIn(comment, /--max-request-bytes, default (\d+) MiB/, declaration) * MiB, DEFAULT_CONFIG.maxRequestBytes, declaration);
      assert.match(comment, /PACKAGE_TOO_LARGE/, declaration);
    }
    const data = commentAbove(DFU_PROTO, 'bytes package_data = 1;');
    assert.equal(numberIn(data, /may be (\d+) KiB larger than the limit/, 'package_data') * 1024, REQUEST_OVERHEAD_BYTES);
    const chunk = commentAbove(DFU_PROTO, 'bytes chunk = 1;');
    assert.equal(numberIn(chunk, /the same limit plus (\d+) KiB/, 'chunk') * 1024, REQUEST_OVERHEAD_BYTES);
  });

  it('how long an uploaded package is kept: the package store (--package-store-bytes) and its default', () => {
    const comment = commentAbove(DFU_PROTO, 'string package_id = 1;');
    assert.equal(numberIn(comment, /--package-store-bytes, default (\d+) MiB/, 'package_id') * MiB, DEFAULT_CONFIG.packageStoreBytes);
    assert.match(comment, /in memory only/);
    assert.match(comment, /PACKAGE_NOT_FOUND/);
  });

  it('retries: 0 to RETRIES_MAX with 0 meaning no retries, unset the default, in the proto and the README', () => {
    const comment = commentAbove(DFU_PROTO, 'optional uint32 retries = 3;');
    assert.equal(numberIn(comment, /0 to (\d+): 0 means no retries/, 'retries range'), RETRIES_MAX);
    assert.equal(numberIn(comment, /unset means the default, (\d+)/, 'retries default'), DEFAULT_DFU_OPTIONS.retries);
    const row = tableRows(read('README.md'), 'field').find((cells) => cells[0] === '`DfuOptions.retries`');
    assert.ok(row !== undefined, 'README "Request limits" has a DfuOptions.retries row');
    assert.equal(row[1], `0 to ${RETRIES_MAX} (0: no retries); unset: ${DEFAULT_DFU_OPTIONS.retries}`);
  });

  it('labels: their bounds in the proto and the README are LABEL_LIMITS', () => {
    const { count, keyChars, valueBytes } = LABEL_LIMITS;
    const comment = commentAbove(DFU_PROTO, 'map<string, string> labels = 7;');
    assert.match(comment, new RegExp(`At most ${count}; keys 1 to ${keyChars} characters of A-Z a-z 0-9 _ \\. -; values at most ${valueBytes} bytes`));
    const row = tableRows(read('README.md'), 'field').find((cells) => cells[0] === '`StartDfuRequest.labels`, `ListAuditRecordsRequest.labels`');
    assert.ok(row !== undefined, 'README "Request limits" has a labels row');
    assert.equal(row[1], `at most ${count}; keys 1 to ${keyChars} characters of \`A-Z a-z 0-9 _ . -\`; values at most ${valueBytes} bytes, no control characters`);
  });

  it('the clock of durations, rates and ETA is stated where they are declared', () => {
    for (const declaration of ['google.protobuf.Duration duration = 3;', 'double current_rate = 8;', 'google.protobuf.Duration eta = 10;']) {
      assert.match(commentAbove(DFU_PROTO, declaration), /server's clock/, declaration);
    }
    assert.match(commentAbove(DFU_PROTO, 'google.protobuf.Duration modelled_air_time = 5;'), /modelled clock/);
  });
});
