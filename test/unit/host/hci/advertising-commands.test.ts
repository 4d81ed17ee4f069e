import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import {
  ADVERTISING_CHANNELS_ALL,
  ADVERTISING_TYPES,
  decodeCommand,
  decodeReturnParameters,
  describeOpcode,
  encodeCommand,
  OWN_ADDRESS_TYPES,
  type CommandParams,
  type HciCommandName,
} from '../../../../server/host/hci/commands.js';
import { decodeCommandPacket, encodeCommandPacket } from '../../../../server/host/hci/packets.js';

const cmdHex = <K extends HciCommandName>(name: K, params: CommandParams<K>): string =>
  toHex(encodeCommandPacket(encodeCommand(name, params)), ' ');
const zeros = (n: number): string => Array.from({ length: n }, () => '00').join(' ');

// Layouts from Core Vol 4, Part E, 7.8.5 / 7.8.7 / 7.8.8 / 7.8.9.
describe('HCI LE advertising commands', () => {
  it('LE Set Advertising Parameters: 100 ms ADV_IND from the random address on all channels', () => {
    const hex = cmdHex('leSetAdvertisingParameters', {
      advertisingIntervalMin: 0x00a0,
      advertisingIntervalMax: 0x00a0,
      advertisingType: ADVERTISING_TYPES.advInd,
      ownAddressType: OWN_ADDRESS_TYPES.random,
      peerAddressType: 0,
      peerAddress: '00:00:00:00:00:00',
      channelMap: ADVERTISING_CHANNELS_ALL,
      filterPolicy: 0,
    });
    assert.equal(hex, '06 20 0f a0 00 a0 00 00 01 00 00 00 00 00 00 00 07 00');
    const decoded = decodeCommand(decodeCommandPacket(fromHex(hex)));
    assert.equal(decoded.name, 'leSetAdvertisingParameters');
    assert.equal(describeOpcode(0x2006), 'HCI_LE_Set_Advertising_Parameters');
  });

  it('LE Set Advertising Data: length octet, then 31 octets zero-padded', () => {
    const data = fromHex('02 01 06 05 09 41 42 43 44');
    assert.equal(cmdHex('leSetAdvertisingData', { data }), `08 20 20 09 02 01 06 05 09 41 42 43 44 ${zeros(22)}`);
    const decoded = decodeCommand(decodeCommandPacket(fromHex(`08 20 20 09 02 01 06 05 09 41 42 43 44 ${zeros(22)}`)));
    assert.deepEqual(decoded, { name: 'leSetAdvertisingData', opcode: 0x2008, params: { data } });
  });

  it('LE Set Scan Response Data: empty data is a zero length and 31 zero octets', () => {
    assert.equal(cmdHex('leSetScanResponseData', { data: new Uint8Array(0) }), `09 20 20 00 ${zeros(31)}`);
    assert.equal(cmdHex('leSetScanResponseData', { data: new Uint8Array(31).fill(0xaa) }), `09 20 20 1f ${Array(31).fill('aa').join(' ')}`);
  });

  it('refuses advertising data over 31 octets, and a length field over 31', () => {
    assert.throws(() => encodeCommand('leSetAdvertisingData', { data: new Uint8Array(32) }), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
    assert.throws(() => decodeCommand(decodeCommandPacket(fromHex(`08 20 20 20 ${zeros(31)}`))), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
  });

  it('LE Set Advertising Enable', () => {
    assert.equal(cmdHex('leSetAdvertisingEnable', { enable: 1 }), '0a 20 01 01');
    assert.equal(cmdHex('leSetAdvertisingEnable', { enable: 0 }), '0a 20 01 00');
  });
});

describe('HCI return parameters from controllers that leave fields out', () => {
  it('accepts an LE Remote Connection Parameter Request (Negative) Reply completed with the status alone (btvirt)', () => {
    // BlueZ 5.66 btvirt answers 0x2020/0x2021 with Command Complete carrying only the status.
    assert.deepEqual(decodeReturnParameters('leRemoteConnectionParameterRequestReply', Uint8Array.of(0x00)), { status: 0, value: {} });
    assert.deepEqual(decodeReturnParameters('leRemoteConnectionParameterRequestNegativeReply', Uint8Array.of(0x00)), { status: 0, value: {} });
    // The spec's layout (status, handle) still decodes.
    assert.equal(decodeReturnParameters('leRemoteConnectionParameterRequestReply', Uint8Array.of(0x00, 0x40, 0x00)).status, 0);
  });
});
