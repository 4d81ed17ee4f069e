import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { hasCode } from '../../../../server/common/errors.js';
import {
  decodeCommand,
  decodeCommandParams,
  decodeReturnParameters,
  describeOpcode,
  encodeCommand,
  encodeReturnParameters,
  HCI_COMMANDS,
  type CommandParams,
  type HciCommandName,
} from '../../../../server/host/hci/commands.js';
import { hciError, hciStatusName } from '../../../../server/host/hci/errors.js';
import { decodeEvent, encodeEvent, type HciEvent } from '../../../../server/host/hci/events.js';
import {
  ACL_PB,
  decodeAclPacket,
  decodeCommandPacket,
  decodeEventPacket,
  encodeAclPacket,
  encodeCommandPacket,
  encodeEventPacket,
  hciOcf,
  hciOgf,
  hciOpcode,
} from '../../../../server/host/hci/packets.js';

const cmdHex = <K extends HciCommandName>(name: K, params: CommandParams<K>): string =>
  toHex(encodeCommandPacket(encodeCommand(name, params)), ' ');
const evtHex = (event: HciEvent): string => toHex(encodeEventPacket(encodeEvent(event)), ' ');
const evt = (hex: string): HciEvent => decodeEvent(decodeEventPacket(fromHex(hex)));

describe('HCI packets', () => {
  it('composes opcodes from OGF and OCF', () => {
    assert.equal(hciOpcode(0x03, 0x0003), 0x0c03);
    assert.equal(hciOpcode(0x08, 0x000d), 0x200d);
    assert.equal(hciOgf(0x200d), 0x08);
    assert.equal(hciOcf(0x200d), 0x0d);
    for (const spec of Object.values(HCI_COMMANDS)) assert.equal(hciOpcode(hciOgf(spec.opcode), hciOcf(spec.opcode)), spec.opcode);
  });

  it('encodes HCI_Reset as 03 0c 00', () => {
    assert.equal(cmdHex('reset', {}), '03 0c 00');
    assert.deepEqual(decodeCommand(decodeCommandPacket(fromHex('030c00'))), { name: 'reset', opcode: 0x0c03, params: {} });
  });

  it('rejects a packet whose length field disagrees with its bytes', () => {
    assert.throws(() => decodeCommandPacket(fromHex('030c01')), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
    assert.throws(() => decodeEventPacket(fromHex('0e0401030c')), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
    assert.throws(() => decodeAclPacket(fromHex('4000050001')), (e: unknown) => hasCode(e, 'MALFORMED_PACKET'));
  });

  it('packs the ACL handle, PB and BC flags into the first two octets', () => {
    const bytes = encodeAclPacket({ handle: 0x040, pb: ACL_PB.firstNonFlushable, bc: 0, data: fromHex('0300040002f700') });
    assert.equal(toHex(bytes, ' '), '40 00 07 00 03 00 04 00 02 f7 00');
    const incoming = decodeAclPacket(fromHex('41 20 02 00 aa bb'));
    assert.equal(incoming.handle, 0x041);
    assert.equal(incoming.pb, ACL_PB.firstFlushable);
    assert.equal(incoming.bc, 0);
    assert.equal(toHex(incoming.data), 'aabb');
    assert.equal(decodeAclPacket(fromHex('ff 1f 00 00')).pb, ACL_PB.continuing);
    assert.equal(decodeAclPacket(fromHex('ff 1f 00 00')).handle, 0xfff);
  });
});

describe('HCI commands', () => {
  it('lays out parameters as the Core spec fixes them', () => {
    assert.equal(cmdHex('setEventMask', { mask: 0x2000_0000_0000_8090n }), '01 0c 08 90 80 00 00 00 00 00 20');
    assert.equal(cmdHex('leSetScanEnable', { enable: 1, filterDuplicates: 0 }), '0c 20 02 01 00');
    assert.equal(
      cmdHex('leSetScanParameters', { scanType: 1, scanInterval: 0x10, scanWindow: 0x10, ownAddressType: 0, filterPolicy: 0 }),
      '0b 20 07 01 10 00 10 00 00 00',
    );
    assert.equal(cmdHex('disconnect', { handle: 0x40, reason: 0x13 }), '06 04 03 40 00 13');
    assert.equal(
      cmdHex('leCreateConnection', {
        scanInterval: 0x60,
        scanWindow: 0x30,
        initiatorFilterPolicy: 0,
        peerAddressType: 1,
        peerAddress: 'C0:11:22:33:44:55',
        ownAddressType: 0,
        connIntervalMin: 0x18,
        connIntervalMax: 0x28,
        maxLatency: 0,
        supervisionTimeout: 0x1f4,
        minCeLength: 0,
        maxCeLength: 0,
      }),
      '0d 20 19 60 00 30 00 00 01 55 44 33 22 11 c0 00 18 00 28 00 00 00 f4 01 00 00 00 00',
    );
    assert.equal(cmdHex('leSetDataLength', { handle: 0x40, txOctets: 251, txTime: 2120 }), '22 20 06 40 00 fb 00 48 08');
    assert.equal(
      cmdHex('leSetPhy', { handle: 0x40, allPhys: 0, txPhys: 2, rxPhys: 2, phyOptions: 0 }),
      '32 20 07 40 00 00 02 02 00 00',
    );
    assert.equal(cmdHex('leRemoteConnectionParameterRequestNegativeReply', { handle: 1, reason: 0x3b }), '21 20 03 01 00 3b');
  });

  it('decodes every command it encodes (the simulator side)', () => {
    const params = {
      handle: 0x41,
      connIntervalMin: 6,
      connIntervalMax: 12,
      maxLatency: 0,
      supervisionTimeout: 400,
      minCeLength: 0,
      maxCeLength: 0,
    };
    const packet = encodeCommand('leConnectionUpdate', params);
    assert.deepEqual(decodeCommand(decodeCommandPacket(encodeCommandPacket(packet))), {
      name: 'leConnectionUpdate',
      opcode: 0x2013,
      params,
    });
    assert.deepEqual(decodeCommandParams('leSetRandomAddress', fromHex('665544332211')), { address: '11:22:33:44:55:66' });
    assert.deepEqual(decodeCommand({ opcode: 0xfc01, params: fromHex('01') }), {
      name: 'unknown',
      opcode: 0xfc01,
      params: fromHex('01'),
    });
  });

  it('encodes and decodes return parameters with the status first', () => {
    const version = { hciVersion: 0x0c, hciSubversion: 0x1234, lmpVersion: 0x0c, companyId: 0x0059, lmpSubversion: 0x5678 };
    const bytes = encodeReturnParameters('readLocalVersionInformation', 0, version);
    assert.equal(toHex(bytes, ' '), '00 0c 34 12 0c 59 00 78 56');
    assert.deepEqual(decodeReturnParameters('readLocalVersionInformation', bytes), { status: 0, value: version });
    assert.deepEqual(decodeReturnParameters('readBdAddr', fromHex('00 66 55 44 33 22 11')), {
      status: 0,
      value: { address: '11:22:33:44:55:66' },
    });
    assert.deepEqual(decodeReturnParameters('leReadBufferSize', fromHex('00 fb 00 0c')), {
      status: 0,
      value: { leAclDataPacketLength: 251, totalNumLeAclDataPackets: 12 },
    });
    // A failing command may carry the status alone.
    assert.deepEqual(decodeReturnParameters('leSetDataLength', fromHex('01')), { status: 1, value: undefined });
    assert.equal(toHex(encodeReturnParameters('leSetDataLength', 0x01)), '01');
    const features = decodeReturnParameters('leReadLocalSupportedFeatures', fromHex('00 20 01 00 00 00 00 00 00'));
    assert.equal(features.value?.leFeatures, 0x0120n);
  });

  it('names opcodes and statuses for error messages', () => {
    assert.equal(describeOpcode(0x0c03), 'HCI_Reset');
    assert.equal(describeOpcode(0xfc01), 'HCI command 0xfc01');
    assert.equal(hciStatusName(0x08), 'Connection Timeout (0x08)');
    assert.equal(hciStatusName(0x13), 'Remote User Terminated Connection (0x13)');
    assert.equal(hciStatusName(0x3e), 'Connection Failed to be Established / Synchronization Timeout (0x3E)');
    assert.equal(hciStatusName(0xee), 'HCI status 0xEE');
    const e = hciError('HCI_LE_Set_PHY', 0x11);
    assert.equal(e.code, 'HCI_ERROR');
    assert.equal(e.facts.hciStatus, 0x11);
    assert.match(e.message, /HCI_LE_Set_PHY failed: Unsupported Feature or Parameter Value \(0x11\)/);
  });
});

describe('HCI events', () => {
  it('Command Complete for HCI_Reset is 0e 04 01 03 0c 00', () => {
    const event: HciEvent = { kind: 'commandComplete', numHciCommandPackets: 1, opcode: 0x0c03, returnParameters: fromHex('00') };
    assert.equal(evtHex(event), '0e 04 01 03 0c 00');
    assert.deepEqual(evt('0e 04 01 03 0c 00'), event);
  });

  it('decodes Command Status, Disconnection Complete, Hardware Error and Number Of Completed Packets', () => {
    assert.deepEqual(evt('0f 04 00 01 0d 20'), { kind: 'commandStatus', status: 0, numHciCommandPackets: 1, opcode: 0x200d });
    assert.deepEqual(evt('05 04 00 40 00 08'), { kind: 'disconnectionComplete', status: 0, handle: 0x40, reason: 0x08 });
    assert.deepEqual(evt('10 01 03'), { kind: 'hardwareError', hardwareCode: 3 });
    assert.deepEqual(evt('13 09 02 40 00 02 00 41 00 01 00'), {
      kind: 'numberOfCompletedPackets',
      entries: [
        { handle: 0x40, count: 2 },
        { handle: 0x41, count: 1 },
      ],
    });
  });

  it('decodes LE Connection Complete byte for byte', () => {
    const hex = '3e 13 01 00 40 00 00 01 66 55 44 33 22 11 18 00 00 00 48 00 00';
    const event = evt(hex);
    assert.deepEqual(event, {
      kind: 'leConnectionComplete',
      status: 0,
      handle: 0x40,
      role: 0,
      peerAddressType: 1,
      peerAddress: '11:22:33:44:55:66',
      connInterval: 0x18,
      connLatency: 0,
      supervisionTimeout: 0x48,
      centralClockAccuracy: 0,
    });
    assert.equal(evtHex(event), hex);
  });

  it('decodes an advertising report event holding two reports', () => {
    const hex =
      '3e 1d 02 02' +
      ' 00 01 66 55 44 33 22 11 03 02 01 06 c4' +
      ' 04 01 66 55 44 33 22 11 04 03 09 41 42 bf';
    const event = evt(hex);
    assert.equal(event.kind, 'leAdvertisingReport');
    if (event.kind !== 'leAdvertisingReport') return;
    assert.equal(event.reports.length, 2);
    assert.deepEqual(event.reports[0], {
      eventType: 0,
      addressType: 1,
      address: '11:22:33:44:55:66',
      data: fromHex('020106'),
      rssi: -60,
    });
    assert.equal(event.reports[1]?.eventType, 4);
    assert.equal(event.reports[1]?.rssi, -65);
    assert.equal(evtHex(event), hex);
  });

  it('round-trips the remaining LE meta events', () => {
    const events: HciEvent[] = [
      { kind: 'leConnectionUpdateComplete', status: 0, handle: 1, connInterval: 6, connLatency: 0, supervisionTimeout: 100 },
      { kind: 'leDataLengthChange', handle: 1, maxTxOctets: 251, maxTxTime: 2120, maxRxOctets: 251, maxRxTime: 2120 },
      { kind: 'lePhyUpdateComplete', status: 0, handle: 1, txPhy: 2, rxPhy: 2 },
      { kind: 'leRemoteConnectionParameterRequest', handle: 1, intervalMin: 6, intervalMax: 12, maxLatency: 0, timeout: 400 },
      {
        kind: 'leEnhancedConnectionComplete',
        status: 0,
        handle: 2,
        role: 0,
        peerAddressType: 0,
        peerAddress: 'AA:BB:CC:DD:EE:FF',
        localResolvablePrivateAddress: '00:00:00:00:00:00',
        peerResolvablePrivateAddress: '00:00:00:00:00:00',
        connInterval: 24,
        connLatency: 0,
        supervisionTimeout: 72,
        centralClockAccuracy: 1,
      },
    ];
    for (const e of events) assert.deepEqual(decodeEvent(decodeEventPacket(encodeEventPacket(encodeEvent(e)))), e);
    assert.equal(evtHex(events[2] as HciEvent), '3e 06 0c 00 01 00 02 02');
  });

  it('decodes well-framed events it does not model to `unknown` instead of throwing', () => {
    assert.deepEqual(evt('ff 02 01 02'), { kind: 'unknown', code: 0xff, params: fromHex('0102') });
    const le = evt('3e 03 14 aa bb');
    assert.deepEqual(le, { kind: 'unknown', code: 0x3e, subevent: 0x14, params: fromHex('aabb') });
    assert.equal(evtHex(le), '3e 03 14 aa bb');
  });

  it('throws MALFORMED_PACKET for a modelled event that is too short', () => {
    assert.throws(() => evt('05 02 00 40'), (e: unknown) => hasCode(e, 'MALFORMED_PACKET') && e.layer === 'hci');
  });
});
