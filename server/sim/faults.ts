/**
 * Fault injection for tests and demos, reachable through the world object. Faults are armed with
 * inject() and fire once (unless `times` says otherwise); each returns a handle to disarm it.
 * DFU-level faults act inside the simulated bootloader, frame-level ones on the air.
 */
import { encodeResponse, OBJECT_TYPE, type ControlPointRequest } from '../dfu/secure/controlPoint.js';
import type { AirFaultHooks, AirLink, FrameDirection, FrameFate } from './air.js';
import type { DfuFaultHooks } from './devices/bootloader.js';

/** Which device a fault applies to: its label ("bledfu-sim-1") or app address; all when absent. */
type Target = { readonly device?: string };

export type SimFault = Target &
  (
    | /** Break the link once this many firmware bytes have been received (in total since boot). */
    { readonly kind: 'dropLinkAfterDataBytes'; readonly bytes: number }
    | /** Break the link right after the device answered this request (e.g. a data Create). */
    {
        readonly kind: 'dropLinkAfterRequest';
        readonly op: 'create' | 'execute' | 'select' | 'calcChecksum' | 'setPrn';
        readonly objectType?: 'command' | 'data';
        /** For Execute/CRC: the object type selected at the time. */
        /** Fire on the n-th matching request (1 = the first). */
        readonly occurrence?: number;
      }
    | /**
       * Legacy DFU devices: break the link once the central received the device's successful
       * response to this op code (0x01 Start DFU, 0x02 init packet, 0x03 firmware received,
       * 0x04 Validate): the step is done, the next request never arrives.
       */
      {
        readonly kind: 'dropLinkAfterLegacyResponse';
        readonly op: number;
        /** Fire on the n-th matching response (1 = the first). */
        readonly occurrence?: number;
      }
    | /** Delay the answers to the next `times` CP requests. */
    { readonly kind: 'delayControlPoint'; readonly ms: number; readonly times?: number }
    | /** Flip a byte of the n-th data packet (1-based, counted from when the fault was armed). */
    { readonly kind: 'corruptDataPacket'; readonly packet: number }
    | /** Answer requests with this opcode with an error instead of handling them. */
    {
        readonly kind: 'refuseControlPoint';
        readonly opcode: number;
        readonly result: number;
        readonly extended?: number;
        readonly times?: number;
      }
    | /** The device does not advertise (out of range, powered off). */
    { readonly kind: 'absent' }
    | /** Drop, delay or corrupt L2CAP PDUs on the air. */
    {
        readonly kind: 'frame';
        readonly direction: FrameDirection;
        readonly action: 'drop' | 'corrupt' | { readonly delayMs: number };
        readonly cid?: number;
        /**
         * Only PDUs whose first byte is this (on the ATT channel, the opcode: 0x1D is a Handle
         * Value Indication), to lose one particular message, e.g. the buttonless DFU answer.
         */
        readonly firstByte?: number;
        /** Skip this many matching frames first. */
        readonly after?: number;
        readonly times?: number;
      }
  );

export interface FaultHandle {
  readonly fault: SimFault;
  /** How often it fired. */
  readonly fired: number;
  remove(): void;
}

interface Armed {
  readonly fault: SimFault;
  fired: number;
  seen: number;
  removed: boolean;
}

export interface FaultDevice {
  readonly label: string;
  readonly appAddress: string;
}

export class SimFaults implements AirFaultHooks {
  readonly #armed: Armed[] = [];
  readonly #onAbsentChanged: () => void;

  constructor(onAbsentChanged: () => void) {
    this.#onAbsentChanged = onAbsentChanged;
  }

  inject(fault: SimFault): FaultHandle {
    const armed: Armed = { fault, fired: 0, seen: 0, removed: false };
    this.#armed.push(armed);
    if (fault.kind === 'absent') this.#onAbsentChanged();
    return {
      fault,
      get fired() {
        return armed.fired;
      },
      remove: () => {
        armed.removed = true;
        const i = this.#armed.indexOf(armed);
        if (i >= 0) this.#armed.splice(i, 1);
        if (fault.kind === 'absent') this.#onAbsentChanged();
      },
    };
  }

  clear(): void {
    const hadAbsent = this.#armed.some((a) => a.fault.kind === 'absent');
    this.#armed.length = 0;
    if (hadAbsent) this.#onAbsentChanged();
  }

  get active(): readonly SimFault[] {
    return this.#armed.map((a) => a.fault);
  }

  #for(device: FaultDevice | undefined): Armed[] {
    return this.#armed.filter(
      (a) => a.fault.device === undefined || (device !== undefined && (a.fault.device === device.label || a.fault.device.toUpperCase() === device.appAddress)),
    );
  }

  #spend(a: Armed, times = 1): void {
    a.fired++;
    if (a.fired >= times) {
      const i = this.#armed.indexOf(a);
      if (i >= 0) this.#armed.splice(i, 1);
    }
  }

  isAbsent(device: FaultDevice): boolean {
    return this.#for(device).some((a) => a.fault.kind === 'absent');
  }

  /** The DFU hooks one device's bootloader consults. */
  dfuHooks(device: FaultDevice): DfuFaultHooks {
    return {
      controlPoint: (value) => {
        let delayMs = 0;
        let refuse: Uint8Array | undefined;
        for (const a of this.#for(device)) {
          const f = a.fault;
          if (f.kind === 'delayControlPoint') {
            delayMs += f.ms;
            this.#spend(a, f.times);
          } else if (f.kind === 'refuseControlPoint' && value[0] === f.opcode && refuse === undefined) {
            refuse =
              f.extended === undefined
                ? encodeResponse({ kind: 'error', request: f.opcode, result: f.result })
                : encodeResponse({ kind: 'extendedError', request: f.opcode, extended: f.extended });
            this.#spend(a, f.times);
          }
        }
        return { refuse, delayMs };
      },
      afterControlPoint: (request, response, currentType) => {
        if (request === undefined || response[2] !== 0x01) return false;
        for (const a of this.#for(device)) {
          const f = a.fault;
          if (f.kind !== 'dropLinkAfterRequest' || f.op !== request.op) continue;
          if (f.objectType !== undefined && (objectTypeOf(request) ?? currentType) !== f.objectType) continue;
          a.seen++;
          if (a.seen >= (f.occurrence ?? 1)) {
            this.#spend(a);
            return true;
          }
        }
        return false;
      },
      packet: (value) => {
        for (const a of this.#for(device)) {
          const f = a.fault;
          if (f.kind !== 'corruptDataPacket') continue;
          a.seen++;
          if (a.seen === f.packet) {
            this.#spend(a);
            const copy = value.slice();
            copy[0] = (copy[0] ?? 0) ^ 0xff;
            return copy;
          }
        }
        return value;
      },
      afterLegacyResponse: (op) => {
        for (const a of this.#for(device)) {
          const f = a.fault;
          if (f.kind !== 'dropLinkAfterLegacyResponse' || f.op !== op) continue;
          a.seen++;
          if (a.seen >= (f.occurrence ?? 1)) {
            this.#spend(a);
            return true;
          }
        }
        return false;
      },
      afterPacket: (total) => {
        for (const a of this.#for(device)) {
          const f = a.fault;
          if (f.kind === 'dropLinkAfterDataBytes' && total >= f.bytes) {
            this.#spend(a);
            return true;
          }
        }
        return false;
      },
    };
  }

  /** Devices by link, so frame faults can be aimed at one device. */
  deviceOfLink: (link: AirLink) => FaultDevice | undefined = () => undefined;

  frameFate(direction: FrameDirection, link: AirLink, cid: number, payload: Uint8Array): FrameFate {
    for (const a of this.#for(this.deviceOfLink(link))) {
      const f = a.fault;
      if (f.kind !== 'frame' || f.direction !== direction || (f.cid !== undefined && f.cid !== cid)) continue;
      if (f.firstByte !== undefined && payload[0] !== f.firstByte) continue;
      a.seen++;
      if (a.seen <= (f.after ?? 0)) continue;
      this.#spend(a, f.times);
      if (f.action === 'drop') return { kind: 'drop' };
      if (f.action === 'corrupt') {
        const bytes = payload.slice();
        const i = bytes.length - 1;
        if (i >= 0) bytes[i] = (bytes[i] as number) ^ 0xff;
        return { kind: 'corrupt', bytes };
      }
      return { kind: 'delay', ms: f.action.delayMs };
    }
    return { kind: 'deliver' };
  }
}

function objectTypeOf(request: ControlPointRequest): 'command' | 'data' | undefined {
  if (request.op !== 'create' && request.op !== 'select') return undefined;
  return request.objectType === OBJECT_TYPE.COMMAND ? 'command' : request.objectType === OBJECT_TYPE.DATA ? 'data' : undefined;
}
