/**
 * The function table of clients/python/README.md shows each function of the Python client with
 * the parameters, keyword-only marker and defaults its `def` really has (read from the source, so
 * the test needs no Python).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(join(ROOT, 'clients/python/README.md'), 'utf8');
const SOURCE = readFileSync(join(ROOT, 'clients/python/bledfu_client/client.py'), 'utf8');

/** Splits a parameter list at top-level commas (not those inside brackets or quotes). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (const c of text) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  if (current.trim() !== '') parts.push(current.trim());
  return parts;
}

/** "name=default" for each parameter ("*" kept), annotations dropped. */
function normalise(params: string): string[] {
  return splitTopLevel(params).map((p) => {
    const eq = p.indexOf('=');
    const head = eq < 0 ? p : p.slice(0, eq);
    const name = (head.split(':')[0] as string).trim();
    return eq < 0 ? name : `${name}=${p.slice(eq + 1).trim()}`;
  });
}

/** A default that names a module constant (`target=DEFAULT_TARGET`) shows as the constant's value. */
function resolveConstant(param: string): string {
  const [name, value] = param.split('=') as [string, string | undefined];
  if (value === undefined || !/^[A-Z][A-Z0-9_]*$/.test(value)) return param;
  const m = new RegExp(`^${value}(?:: [^=]+)? = (.+)$`, 'm').exec(SOURCE);
  assert.ok(m?.[1] !== undefined, `no module constant ${value} in client.py`);
  return `${name}=${m[1].trim()}`;
}

function defParams(name: string): string[] {
  const m = new RegExp(`^def ${name}\\(([\\s\\S]*?)\\)\\s*->`, 'm').exec(SOURCE);
  assert.ok(m?.[1] !== undefined, `no def ${name} in client.py`);
  return normalise(m[1].replace(/\s+/g, ' ')).map(resolveConstant);
}

function tableRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const m of README.matchAll(/^\| `(\w+)\(([^`]*)\)` \|/gm)) rows.set(m[1] as string, normalise(m[2] as string));
  return rows;
}

describe('clients/python/README.md function table', () => {
  const rows = tableRows();
  it('has a row per public function', () => {
    assert.deepEqual([...rows.keys()], [
      'connect',
      'scan',
      'start_dfu',
      'inventory',
      'device_kind_name',
      'dfu_protocol_name',
      'upload_package',
      'start_campaign',
      'watch_campaign',
      'get_campaign',
      'list_campaigns',
      'stop_campaign',
      'check_health',
      'wait_until_serving',
    ]);
  });
  for (const [name, documented] of rows) {
    it(`${name}: the parameters and defaults of its def`, () => {
      assert.deepEqual(documented, defParams(name));
    });
  }
});
