/**
 * The contract documents every reason a server can send, where generated code shows it: the
 * comment on bledfu.v1.ErrorDetail (proto/bledfu/v1/common.proto). A code added to
 * server/common/errors.ts without a line there fails here, as does a documented reason the
 * server no longer has, a gRPC status that differs from rpc/status.ts, an ErrorInfo metadata key
 * the server sends but the comment does not name, or a layer missing from the comment's list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Status } from 'nice-grpc-common';
import { BledfuError, ERROR_CODES } from '../../../server/common/errors.js';
import { errorMetadata, STATUS_BY_CODE } from '../../../server/rpc/status.js';

const PROTO = readFileSync(new URL('../../../proto/bledfu/v1/common.proto', import.meta.url), 'utf8');
const ERRORS_TS = readFileSync(new URL('../../../server/common/errors.ts', import.meta.url), 'utf8');

/** The comment block right above `message ErrorDetail {`, without the `// ` prefixes. */
function errorDetailComment(): string[] {
  const lines = PROTO.split('\n');
  const at = lines.findIndex((l) => l.startsWith('message ErrorDetail {'));
  assert.ok(at > 0, 'common.proto declares ErrorDetail');
  const comment: string[] = [];
  for (let i = at - 1; i >= 0 && (lines[i] as string).startsWith('//'); i--) comment.unshift((lines[i] as string).replace(/^\/\/ ?/, ''));
  return comment;
}

/**
 * The indented lines of one section of the comment: its heading paragraph starts with `heading`;
 * the entries are the indented lines after it, up to the next line that is not indented.
 */
function section(comment: readonly string[], heading: string): string[] {
  const start = comment.findIndex((l) => l.startsWith(heading));
  assert.ok(start >= 0, `the ErrorDetail comment has a section "${heading}"`);
  let i = start + 1;
  while (i < comment.length && !(comment[i] as string).startsWith('  ')) i++;
  const entries: string[] = [];
  for (; i < comment.length && (comment[i] as string).startsWith('  '); i++) entries.push(comment[i] as string);
  assert.ok(entries.length > 0, `section "${heading}" has entries`);
  return entries;
}

/** "  REASON (STATUS): meaning" entries of the reasons section. */
function documentedReasons(): Map<string, { readonly status: string; readonly meaning: string }> {
  const entries = new Map<string, { status: string; meaning: string }>();
  for (const line of section(errorDetailComment(), 'Reasons')) {
    const m = /^ {2}([A-Z][A-Z0-9_]*) \(([A-Z_]+)\): (.*)$/.exec(line);
    if (m === null) {
      assert.match(line, /^ {4}\S/, `a reason line or its continuation: ${JSON.stringify(line)}`);
      continue;
    }
    const [, reason, status, meaning] = m as unknown as [string, string, string, string];
    assert.ok(!entries.has(reason), `${reason} documented once`);
    entries.set(reason, { status, meaning });
  }
  return entries;
}

describe('reason codes documented in the contract (ErrorDetail in common.proto)', () => {
  const documented = documentedReasons();

  it('lists every error code of the server, and no other', () => {
    const codes = new Set<string>(ERROR_CODES);
    const missing = [...codes].filter((c) => !documented.has(c));
    const extra = [...documented.keys()].filter((c) => !codes.has(c));
    assert.deepEqual(missing, [], 'codes the server has but the proto does not document');
    assert.deepEqual(extra, [], 'reasons the proto documents but the server does not have');
  });

  it('gives each reason the gRPC status the server ends a call with, and a meaning', () => {
    for (const code of ERROR_CODES) {
      const entry = documented.get(code);
      assert.ok(entry !== undefined, code);
      assert.equal(entry.status, Status[STATUS_BY_CODE[code]], `status of ${code}`);
      assert.ok(entry.meaning.trim().length > 10, `${code} says what it means`);
    }
  });

  it('names every ErrorInfo metadata key the server sends', () => {
    const metadata = section(errorDetailComment(), 'ErrorInfo metadata').join('\n');
    const keys = Object.keys(
      errorMetadata(
        new BledfuError('DFU_REMOTE_ERROR', 'x', {
          layer: 'dfu',
          remedy: 'y',
          facts: { dfuResult: 11, dfuResultName: 'EXT_ERROR', dfuExtended: 12, dfuExtendedName: 'SIGNATURE_MISSING', attError: 3, hciStatus: 8, context: { port: 'p' } },
        }),
      ),
    );
    assert.equal(keys.length, 9, `every kind of key produced: ${keys.join(', ')}`);
    for (const key of keys) {
      const documentedAs = key.startsWith('context_') ? 'context_<key>' : key;
      assert.ok(metadata.includes(`${documentedAs}:`) || metadata.includes(`${documentedAs},`), `metadata key ${key} documented`);
    }
  });

  it('lists every layer the server names in ErrorInfo metadata', () => {
    const type = /export type ErrorLayer =([^;]+);/.exec(ERRORS_TS)?.[1] ?? '';
    const layers = [...type.matchAll(/\| '([a-z0-9]+)'/g)].map((m) => m[1] as string);
    assert.ok(layers.length >= 10, `layers read from errors.ts: ${layers.join(', ')}`);
    const metadata = section(errorDetailComment(), 'ErrorInfo metadata').join(' ');
    const listed = /layer: .*?one of ([a-z0-9, ]+):/.exec(metadata.replace(/\s+/g, ' '))?.[1] ?? '';
    assert.deepEqual(
      listed.split(',').map((l) => l.trim()).sort(),
      [...layers].sort(),
    );
  });
});
