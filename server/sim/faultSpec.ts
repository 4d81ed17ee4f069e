/**
 * The simulator's faults as text, for the `fault=` parameter of a `sim:` adapter spec, so a user
 * can rehearse failures with their own station scripts against a plain bledfud (the test suite
 * arms the same faults through world.faults). One fault per `fault=`, repeatable:
 *
 *   KIND[:ARG…][@DEVICE]
 *
 * DEVICE is a simulated device's name ("bledfu-sim-2") or application address; without it the
 * fault applies to every device. Each fault is armed when the adapter is created and fires once
 * (or the count it is given) during that server's life: a restarted server arms it again.
 * FAULT_SPEC_KINDS is the grammar, for error messages and the README's table.
 */
import { BledfuError } from '../common/errors.js';
import { EXT_ERROR, OPCODE, RESULT } from '../dfu/secure/controlPoint.js';
import type { SimFault } from './faults.js';

/** Each kind's syntax and meaning, in the order the README lists them. */
export const FAULT_SPEC_KINDS = [
  ['droplink:BYTES', 'the link breaks once the bootloader has received BYTES bytes of firmware (data objects); the update resumes'],
  [
    'droplink-after:REQUEST[:N]',
    'the link breaks right after the device answered its N-th (default first) REQUEST: create, execute or select (any object type, or with -command / -data: create-data, execute-command, …), crc or prn',
  ],
  ['corrupt:N', "a byte of the N-th firmware data packet (1 = the first) is flipped on its way into flash: the device's CRC disagrees and the object is sent again"],
  ['slow:MS[:N]', "the device answers its next N control point requests (default: all of them) MS ms late: a slow or busy device; past the server's request timeout, a request times out"],
  [
    'refuse:REQUEST:RESULT[:N]',
    'the device answers its next N (default 1) REQUEST requests (create, execute, select, crc, prn) with the error RESULT: a result name (insufficient-resources, operation-failed, invalid-object, …), ext- and an extended error name (ext-insufficient-space, ext-fw-version-failure, …) or a number (0x04)',
  ],
  ['unanswered[:N[:AFTER]]', "the device's next N (default 1) control point answers are lost on the air, after AFTER (default 0) went through: a request the device handled but the server never hears back about"],
  ['drop:to-device|from-device[:N[:AFTER]]', 'N (default 1) L2CAP packets in that direction are lost on the air, after AFTER (default 0) went through'],
  ['absent', 'the device does not advertise at all (out of range, powered off)'],
] as const;

const ATT_CID = 0x0004;
/** ATT Handle Value Notification: how the DFU control point answers. */
const ATT_NOTIFICATION = 0x1b;

const REQUESTS = {
  create: 'create',
  execute: 'execute',
  select: 'select',
  crc: 'calcChecksum',
  prn: 'setPrn',
} as const;
type RequestName = keyof typeof REQUESTS;

const REFUSABLE: Record<RequestName, number> = {
  create: OPCODE.CREATE,
  execute: OPCODE.EXECUTE,
  select: OPCODE.SELECT,
  crc: OPCODE.CALC_CHECKSUM,
  prn: OPCODE.SET_PRN,
};

/** Spec text is the user's: only a short prefix of it goes into an error message. */
const quote = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

function invalid(text: string, why: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', `simulator spec: fault=${quote(text)}: ${why}`, {
    layer: 'sim',
    remedy: `write fault=KIND[:ARG…][@DEVICE], one fault per fault=, with KIND one of: ${FAULT_SPEC_KINDS.map(([syntax]) => syntax).join(', ')} (README: "Simulator faults")`,
  });
}

/** A whole number in [min, max], decimal or 0x-hex. */
function integer(text: string, value: string | undefined, what: string, min: number, max: number): number {
  const n = value !== undefined && /^(?:\d+|0x[0-9a-f]+)$/i.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(text, `${what} must be a whole number from ${min} to ${max}, not ${quote(value ?? '')}`);
  return n;
}

const name = (key: string): string => key.toLowerCase().replace(/_/g, '-');

/** A result code (RESULT) or an extended error (EXT_ERROR) by name or number. */
function result(text: string, value: string | undefined): { result: number; extended?: number } {
  if (value === undefined) throw invalid(text, 'give the error to answer with, e.g. refuse:create:insufficient-resources');
  if (value.startsWith('ext-')) {
    const rest = value.slice(4);
    const hit = Object.entries(EXT_ERROR).find(([k]) => name(k) === rest);
    const extended = hit?.[1] ?? (/^(?:\d+|0x[0-9a-f]+)$/i.test(rest) ? integer(text, rest, 'an extended error', 1, 0xff) : undefined);
    if (extended === undefined) {
      throw invalid(text, `unknown extended error ${quote(rest)}; extended errors: ${Object.keys(EXT_ERROR).map(name).join(', ')}`);
    }
    return { result: RESULT.EXT_ERROR, extended };
  }
  const hit = Object.entries(RESULT).find(([k]) => name(k) === value);
  const code = hit?.[1] ?? (/^(?:\d+|0x[0-9a-f]+)$/i.test(value) ? integer(text, value, 'a result code', 0, 0xff) : undefined);
  if (code === undefined) {
    throw invalid(text, `unknown result ${quote(value)}; results: ${Object.keys(RESULT).map(name).join(', ')}, or ext-NAME`);
  }
  if (code === RESULT.SUCCESS) throw invalid(text, 'success is not a fault');
  if (code === RESULT.EXT_ERROR) throw invalid(text, 'name the extended error: ext-NAME, e.g. ext-insufficient-space');
  return { result: code };
}

function request(text: string, value: string | undefined): RequestName {
  if (value === undefined || !(value in REQUESTS)) {
    throw invalid(text, `unknown request ${quote(value ?? '')}; requests: ${Object.keys(REQUESTS).join(', ')}`);
  }
  return value as RequestName;
}

function noMore(text: string, args: readonly string[], allowed: number): void {
  if (args.length > allowed) throw invalid(text, `too many arguments (${args.length}, at most ${allowed})`);
}

/** One `fault=` value as the simulator's fault, or INVALID_ARGUMENT saying what is wrong. */
export function parseFaultSpec(text: string): SimFault {
  const at = text.lastIndexOf('@');
  const body = at < 0 ? text : text.slice(0, at);
  const device = at < 0 ? undefined : text.slice(at + 1);
  if (device === '') throw invalid(text, 'name a device after @ (e.g. @bledfu-sim-2), or leave out @ for all devices');
  const target = device === undefined ? {} : { device };
  const [kind = '', ...args] = body.split(':');
  const MAX = 0xffff_ffff;
  switch (kind) {
    case 'droplink':
      noMore(text, args, 1);
      return { kind: 'dropLinkAfterDataBytes', bytes: integer(text, args[0], 'BYTES', 1, MAX), ...target };
    case 'droplink-after': {
      noMore(text, args, 2);
      const [op = '', type] = (args[0] ?? '').split(/-(command|data)$/);
      const req = request(text, op);
      if (type !== undefined && req !== 'create' && req !== 'execute' && req !== 'select') {
        throw invalid(text, 'only create, execute and select take -command or -data');
      }
      return {
        kind: 'dropLinkAfterRequest',
        op: REQUESTS[req],
        ...(type === 'command' || type === 'data' ? { objectType: type } : {}),
        ...(args[1] === undefined ? {} : { occurrence: integer(text, args[1], 'N', 1, MAX) }),
        ...target,
      };
    }
    case 'corrupt':
      noMore(text, args, 1);
      return { kind: 'corruptDataPacket', packet: integer(text, args[0], 'N', 1, MAX), ...target };
    case 'slow':
      noMore(text, args, 2);
      return {
        kind: 'delayControlPoint',
        ms: integer(text, args[0], 'MS', 1, 3_600_000),
        times: args[1] === undefined ? Number.POSITIVE_INFINITY : integer(text, args[1], 'N', 1, MAX),
        ...target,
      };
    case 'refuse': {
      noMore(text, args, 3);
      const op = REFUSABLE[request(text, args[0])];
      const { result: code, extended } = result(text, args[1]);
      return {
        kind: 'refuseControlPoint',
        opcode: op,
        result: code,
        ...(extended === undefined ? {} : { extended }),
        ...(args[2] === undefined ? {} : { times: integer(text, args[2], 'N', 1, MAX) }),
        ...target,
      };
    }
    case 'unanswered':
      noMore(text, args, 2);
      return {
        kind: 'frame',
        direction: 'toCentral',
        action: 'drop',
        cid: ATT_CID,
        firstByte: ATT_NOTIFICATION,
        times: args[0] === undefined ? 1 : integer(text, args[0], 'N', 1, MAX),
        after: args[1] === undefined ? 0 : integer(text, args[1], 'AFTER', 0, MAX),
        ...target,
      };
    case 'drop': {
      noMore(text, args, 3);
      const direction = args[0] === 'to-device' ? 'toPeripheral' : args[0] === 'from-device' ? 'toCentral' : undefined;
      if (direction === undefined) throw invalid(text, `say which way: drop:to-device or drop:from-device, not ${quote(args[0] ?? '')}`);
      return {
        kind: 'frame',
        direction,
        action: 'drop',
        times: args[1] === undefined ? 1 : integer(text, args[1], 'N', 1, MAX),
        after: args[2] === undefined ? 0 : integer(text, args[2], 'AFTER', 0, MAX),
        ...target,
      };
    }
    case 'absent':
      noMore(text, args, 0);
      return { kind: 'absent', ...target };
    default:
      throw invalid(text, `unknown fault ${quote(kind)}`);
  }
}
