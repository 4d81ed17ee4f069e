import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAdvertisingData, parseAdvertisingData, splitAdStructures } from '../../../server/ble/advertising.js';
import { fromHex, toHex } from '../../../server/common/bytes.js';

describe('advertising data', () => {
  it('parses what a Secure DFU bootloader advertises', () => {
    // Flags (LE General Discoverable, BR/EDR not supported), 16-bit UUID FE59, name "DfuTarg".
    const data = fromHex('02 01 06 03 03 59 fe 08 09 44 66 75 54 61 72 67');
    const fields = parseAdvertisingData(data);
    assert.equal(fields.flags, 0x06);
    assert.deepEqual(fields.serviceUuids, ['FE59']);
    assert.equal(fields.name, 'DfuTarg');
    assert.equal(fields.nameIsShortened, false);
    assert.equal(fields.truncated, false);
    assert.equal(fields.structures.length, 3);
  });

  it('reads 32- and 128-bit UUID lists, TX power and manufacturer data', () => {
    const data = fromHex(
      '05 05 0d 18 00 00' +
        ' 11 07 50 ea da 30 88 83 b8 9f 60 4f 15 f3 01 00 c9 8e' +
        ' 02 0a f8' +
        ' 05 ff 59 00 01 02' +
        ' 04 08 44 66 75',
    );
    const fields = parseAdvertisingData(data);
    assert.deepEqual(fields.serviceUuids, ['180D', '8EC90001-F315-4F60-9FB8-838830DAEA50']);
    assert.equal(fields.txPower, -8);
    assert.deepEqual(fields.manufacturerData, [{ companyId: 0x0059, data: fromHex('0102') }]);
    assert.equal(fields.name, 'Dfu');
    assert.equal(fields.nameIsShortened, true);
  });

  it('keeps the structures before a length that overruns the data', () => {
    const fields = parseAdvertisingData(fromHex('02 01 06 03 03 59 fe 09 09 44 66'));
    assert.equal(fields.flags, 6);
    assert.deepEqual(fields.serviceUuids, ['FE59']);
    assert.equal(fields.name, undefined);
    assert.equal(fields.truncated, true);
  });

  it('stops at zero padding and flags malformed lists without dropping the rest', () => {
    assert.equal(splitAdStructures(fromHex('02 01 06 00 00 00')).structures.length, 1);
    const fields = parseAdvertisingData(fromHex('04 03 59 fe 0a 03 09 41 42'));
    assert.deepEqual(fields.serviceUuids, []);
    assert.equal(fields.name, 'AB');
    assert.equal(fields.truncated, true);
  });

  it('builds advertising data that parses back', () => {
    const bytes = buildAdvertisingData({
      flags: 0x06,
      serviceUuids: ['FE59', '8EC90001-F315-4F60-9FB8-838830DAEA50'],
      name: 'DfuTarg',
      manufacturerData: [{ companyId: 0x59, data: fromHex('aa') }],
    });
    assert.equal(
      toHex(bytes, ' '),
      '02 01 06 03 03 59 fe 11 07 50 ea da 30 88 83 b8 9f 60 4f 15 f3 01 00 c9 8e 08 09 44 66 75 54 61 72 67 04 ff 59 00 aa',
    );
    const fields = parseAdvertisingData(bytes);
    assert.equal(fields.name, 'DfuTarg');
    assert.deepEqual(fields.serviceUuids, ['FE59', '8EC90001-F315-4F60-9FB8-838830DAEA50']);
  });
});
