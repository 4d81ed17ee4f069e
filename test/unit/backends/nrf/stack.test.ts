import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../../server/common/bytes.js';
import { H5Link, type H5LinkAction } from '../../../../server/backends/nrf/h5Link.js';
import { SlipDecoder } from '../../../../server/backends/nrf/slip.js';
import { decodeEvent } from '../../../../server/backends/nrf/serialization/events.js';
import { commandPacket, decodeSerPacket } from '../../../../server/backends/nrf/serialization/packets.js';
import { decodeResponse } from '../../../../server/backends/nrf/serialization/responses.js';
import type { NrfCommand } from '../../../../server/backends/nrf/serialization/commands.js';
import { h5LinkVectors, NEEDS_NRF_VECTORS } from '../../../helpers/nrf-vectors.js';

/**
 * All layers together on the first-contact transcript: typed commands in, exact serial bytes out;
 * device bytes in, typed responses and events out.
 */
describe('SLIP + H5 link + serialization on transcript_first_contact (API v6)', NEEDS_NRF_VECTORS, () => {
  it('sends the transcript bytes for typed commands and decodes what the device answers', () => {
    const transcript = h5LinkVectors().transcript_first_contact;
    const commands: NrfCommand[] = [
      { kind: 'cfgSet', config: { id: 'connGatt', connCfgTag: 1, attMtu: 247 } },
      { kind: 'enable' },
    ];
    const link = new H5Link();
    const slip = new SlipDecoder();
    const written: string[] = [];
    const delivered: Uint8Array[] = [];
    const run = (actions: H5LinkAction[]): void => {
      for (const a of actions) {
        if (a.type === 'write') written.push(toHex(a.bytes));
        if (a.type === 'deliver') delivered.push(a.payload);
      }
    };

    run(link.handle({ type: 'open' }));
    run(link.handle({ type: 'timer', timer: 'resetWait' }));
    let next = 0;
    for (const step of transcript) {
      if (step.direction === 'device->host') {
        for (const bytes of slip.feed(fromHex(step.slip_frame_hex))) run(link.handle({ type: 'frame', bytes }));
        // Like a serialization layer: the next command goes out once the previous response arrived.
        if (link.state === 'active' && delivered.length === next && next < commands.length) {
          const command = commands[next++] as NrfCommand;
          run(link.handle({ type: 'send', id: next, payload: commandPacket(6, command) }));
        }
      }
    }
    assert.deepEqual(
      written,
      transcript.filter((s) => s.direction === 'host->device').map((s) => s.slip_frame_hex),
    );

    const [cfgRsp, enableRsp, event] = delivered.map(decodeSerPacket);
    assert.equal(cfgRsp?.kind, 'response');
    assert.deepEqual(decodeResponse(6, 'cfgSet', cfgRsp.body), { kind: 'cfgSet', result: 0 });
    assert.equal(enableRsp?.kind, 'response');
    assert.deepEqual(decodeResponse(6, 'enable', enableRsp.body), { kind: 'enable', result: 0 });
    assert.equal(event?.kind, 'event');
    assert.deepEqual(decodeEvent(6, event.body), { kind: 'gapDisconnected', connHandle: 0, reason: 0x13 });
  });
});
