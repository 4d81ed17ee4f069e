/**
 * docs/sim-model.md stays true to the code: every row of its numbers table names a constant the
 * simulator really uses, with the value the code has (so changing a number means updating the
 * document that says where it comes from), and every row gives a source.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { NRF52840_FLASH } from '../../../server/sim/devices/flash.js';
import { LEGACY_JUMP_DELAY_MS } from '../../../server/sim/devices/legacy/application.js';
import { LEGACY_BOOTLOADERS } from '../../../server/sim/devices/legacy/bootloader.js';
import { LEGACY_CRC_BYTES_PER_MS } from '../../../server/sim/devices/legacy/target.js';
import { DEFAULT_RADIO } from '../../../server/sim/radio.js';
import { DEFAULT_SIM_CONFIG } from '../../../server/sim/world.js';
import { tableRows } from '../../helpers/markdown-tables.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/sim-model.md'), 'utf8');

/** The code's value of each constant the table may name, in the unit the table writes it in. */
const CODE: Record<string, { readonly value: number; readonly unit: string }> = {
  'DEFAULT_RADIO.ifsUs': { value: DEFAULT_RADIO.ifsUs, unit: 'µs' },
  'DEFAULT_RADIO.eventLengthMs': { value: DEFAULT_RADIO.eventLengthMs, unit: 'ms' },
  'DEFAULT_RADIO.defaultDataLength': { value: DEFAULT_RADIO.defaultDataLength, unit: 'octets' },
  'DEFAULT_RADIO.maxDataLength': { value: DEFAULT_RADIO.maxDataLength, unit: 'octets' },
  'DEFAULT_RADIO.updateInstantEvents': { value: DEFAULT_RADIO.updateInstantEvents, unit: 'events' },
  'DEFAULT_SIM_CONFIG.baud': { value: DEFAULT_SIM_CONFIG.baud, unit: 'baud' },
  'NRF52840_FLASH.pageEraseMs': { value: NRF52840_FLASH.pageEraseMs, unit: 'ms' },
  'NRF52840_FLASH.wordWriteMs': { value: NRF52840_FLASH.wordWriteMs * 1000, unit: 'µs' },
  'NRF52840_FLASH.pageSize': { value: NRF52840_FLASH.pageSize, unit: 'bytes' },
  'DEFAULT_SIM_CONFIG.sha256BytesPerMs': { value: DEFAULT_SIM_CONFIG.sha256BytesPerMs, unit: 'bytes/ms' },
  'DEFAULT_SIM_CONFIG.bootMs': { value: DEFAULT_SIM_CONFIG.bootMs, unit: 'ms' },
  'DEFAULT_SIM_CONFIG.inactivityTimeoutMs': { value: DEFAULT_SIM_CONFIG.inactivityTimeoutMs, unit: 'ms' },
  'DEFAULT_SIM_CONFIG.continuationTimeoutMs': { value: DEFAULT_SIM_CONFIG.continuationTimeoutMs, unit: 'ms' },
  LEGACY_CRC_BYTES_PER_MS: { value: LEGACY_CRC_BYTES_PER_MS, unit: 'bytes/ms' },
  LEGACY_JUMP_DELAY_MS: { value: LEGACY_JUMP_DELAY_MS, unit: 'ms' },
  'LEGACY_BOOTLOADERS.adafruit.dfuTimeoutMs': { value: LEGACY_BOOTLOADERS.adafruit.dfuTimeoutMs, unit: 'ms' },
};

describe('docs/sim-model.md', () => {
  const rows = tableRows(DOC, 'quantity');

  it('lists every number of the model, each once', () => {
    const named = rows.map((r) => (r[2] ?? '').replace(/`/g, ''));
    assert.deepEqual([...named].sort(), Object.keys(CODE).sort());
  });

  it("gives each number as the code has it, in the table's unit, with a source", () => {
    for (const [quantity, value, code, source] of rows) {
      const constant = CODE[(code ?? '').replace(/`/g, '')];
      assert.ok(constant !== undefined, `${quantity}: unknown constant ${code}`);
      const m = /^([\d.]+) (.+)$/.exec(value ?? '');
      assert.ok(m !== null, `${quantity}: value "${value}" is not "NUMBER UNIT"`);
      assert.equal(Number(m[1]), constant.value, `${quantity}: the doc says ${value}, the code ${constant.value} ${constant.unit}`);
      assert.equal(m[2], constant.unit, `${quantity}: unit`);
      assert.ok((source ?? '').length > 0, `${quantity}: no source`);
    }
  });

  it('is linked from the README', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\(docs\/sim-model\.md\)/);
  });
});
