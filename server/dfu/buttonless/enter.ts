/**
 * Buttonless jump from the application into the Secure DFU bootloader (spec §4), and the match
 * used to find the bootloader afterwards (spec §4.2).
 */
import { bootloaderAddress, type DeviceAddress } from '../../ble/address.js';
import type { DeviceMatch } from '../../ble/discovery.js';
import type { Connection, GattCharacteristic } from '../../ble/types.js';
import { normalizeUuid, UUIDS } from '../../ble/uuid.js';
import { toHex } from '../../common/bytes.js';
import { abortReason, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../common/clock.js';
import { buttonlessFailed } from '../errors.js';

export const BUTTONLESS_OPCODE = { ENTER_BOOTLOADER: 0x01, SET_NAME: 0x02, RESPONSE: 0x20 } as const satisfies Record<string, number>;

export const BUTTONLESS_RESULT = {
  0x01: { name: 'SUCCESS', message: 'success' },
  0x02: { name: 'OP_CODE_NOT_SUPPORTED', message: 'the application does not support this request' },
  0x04: { name: 'OPERATION_FAILED', message: 'the application could not hand over to the bootloader' },
  0x05: { name: 'INVALID_ADV_NAME', message: 'invalid bootloader name (1..20 characters)' },
  0x06: { name: 'BUSY', message: 'the application is busy with a previous request' },
  0x07: { name: 'NOT_BONDED', message: 'the link is not bonded, which this buttonless service requires' },
} as const satisfies Record<number, { name: string; message: string }>;

const REMEDIES: Readonly<Record<number, string>> = {
  0x07: 'bond the device first (pair with it from this adapter), then retry',
  0x04: 'the application was built without bootloader hand-over support; put the device into DFU mode by hand (button) and retry',
  0x06: 'wait a moment and retry',
};

function resultName(code: number): string {
  return (BUTTONLESS_RESULT as Record<number, { name: string }>)[code]?.name ?? `0x${code.toString(16).padStart(2, '0')}`;
}

export interface EnterBootloaderOptions {
  readonly bonded: boolean;
  /** Name the bootloader should advertise (without-bonds variant only); skipped when refused. */
  readonly bootloaderName?: string | undefined;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

export type EnterBootloaderResult =
  /** The application accepted 0x01 (or reset on it): the bootloader comes up next. */
  | {
      readonly outcome: 'entered';
      /** The name the bootloader will advertise, when the application accepted it. */
      readonly bootloaderName: string | undefined;
      /**
       * The application answered 0x01 with success and then dropped the link, as the SDK
       * application does. False when the link went down before any answer (the request may
       * have been lost with it), or the application kept the link after answering (our
       * confirmation may have been lost): the device most likely reset into its bootloader,
       * but the caller checks where it is.
       */
      readonly confirmed: boolean;
    }
  /**
   * No answer came, although the link stayed up and the request was made again (the indication
   * was lost on the air, or the application is stuck). The link has been hung up; the device may
   * be in its bootloader or still in its application: the caller looks for both.
   */
  | { readonly outcome: 'unanswered' }
  /**
   * The application reset or dropped the link when asked to name the bootloader (built without
   * the SVCI hand-over, spec §4.1 step 3). It comes back as the application, not the bootloader:
   * the caller reconnects to it and enters without a name.
   */
  | { readonly outcome: 'reset-on-name' };

/**
 * A random "Dfu" + 5 digits name, as the iOS library uses: unique enough to find the right
 * bootloader. `random` is the server clock's (Clock.random: seeded on the simulator, so the same
 * jobs send the same names).
 */
export function randomBootloaderName(random: () => number): string {
  return `Dfu${Math.floor(random() * 100_000)
    .toString()
    .padStart(5, '0')}`;
}

/**
 * How long one buttonless request waits for its indication before it is made again. The SDK
 * application answers at once (within a connection event or two), so a longer silence means the
 * answer was lost on the air or the application is stuck; waiting the whole request timeout for
 * it (20 s) only delays finding out where the device is.
 */
export const BUTTONLESS_ANSWER_WAIT_MS = 2_000;
/** Times a request is made before the link is hung up and the device looked for. */
export const BUTTONLESS_ASKS = 2;

/**
 * Enables indications, optionally sets the bootloader name, writes Enter Bootloader and waits
 * for `20 01 01` and/or the disconnect. Leaves the link down. A refused name (`20 02 xx`) is
 * skipped; a reset on the name request ends here with 'reset-on-name' (nothing left to write to).
 * A request left unanswered is made again, then 'unanswered' is returned.
 */
export async function enterBootloader(conn: Connection, characteristic: GattCharacteristic, options: EnterBootloaderOptions): Promise<EnterBootloaderResult> {
  const log = options.logger;
  const linkOrCancel = AbortSignal.any([options.signal, conn.closed]);
  const sub = await conn.subscribe(characteristic, 'indicate', linkOrCancel).catch((e: unknown) => {
    throw buttonlessFailed(
      `cannot enable indications on the buttonless DFU characteristic: ${e instanceof Error ? e.message : String(e)}`,
      options.bonded ? 'bond the device first (its buttonless service needs an encrypted link)' : 'retry; if it persists, restart the device',
      isBledfuError(e) ? e.facts : undefined,
    );
  });
  const answerMs = Math.min(options.timeoutMs, BUTTONLESS_ANSWER_WAIT_MS);
  const once = async (value: Uint8Array): Promise<number | 'disconnected' | 'no-answer' | 'write-unanswered'> => {
    const t = options.clock.timeoutSignal(
      { ms: answerMs, code: 'BUTTONLESS_FAILED', layer: 'dfu', message: `no answer to buttonless request ${toHex(value)}`, remedy: 'restart the device and retry' },
      options.signal,
    );
    const waitSignal = AbortSignal.any([t.signal, conn.closed]);
    let written = false;
    try {
      await conn.write(characteristic.valueHandle, value, waitSignal);
      written = true;
      const ind = await sub.receive(waitSignal);
      if (ind.length < 3 || ind[0] !== BUTTONLESS_OPCODE.RESPONSE || ind[1] !== value[0]) {
        throw buttonlessFailed(`unexpected buttonless indication ${toHex(ind, ' ')}`, 'retry; if it persists, put the device into DFU mode by hand');
      }
      return ind[2] as number;
    } catch (e) {
      if (options.signal.aborted) throw abortReason(options.signal);
      // The device may reset before (or instead of) indicating: that is the expected outcome of 0x01.
      if (conn.closed.aborted || hasCode(e, 'LINK_LOST')) return 'disconnected';
      // The write's own response was lost (or is overdue): that ATT transaction is still open, and
      // after its timeout the bearer takes no more requests (Core Vol 3 Part F §3.3.3), so asking
      // again on this link is pointless (a SoftDevice even refuses it, NRF_ERROR_BUSY).
      if (hasCode(e, 'ATT_TIMEOUT') || (t.signal.aborted && !written)) return 'write-unanswered';
      if (t.signal.aborted) return 'no-answer';
      // Indications were enabled just before, so 0xFD means the device did not keep that
      // subscription (spec §1.2): for it the write is unauthorised, and nothing we resend fixes it.
      if (hasCode(e, 'ATT_ERROR') && e.facts.attError === 0xfd) {
        throw buttonlessFailed(
          `the buttonless characteristic refused request ${toHex(value, ' ')}: the device has no indications enabled for this link (ATT error 0xFD, CCCD improperly configured)`,
          options.bonded
            ? 'its buttonless service needs an encrypted link for the subscription: bond the device from this adapter, then retry'
            : 'the subscription did not take effect on the device: restart the device and retry; if it persists, put it into DFU mode by hand',
          e.facts,
        );
      }
      throw e;
    } finally {
      t.dispose();
    }
  };
  const request = async (value: Uint8Array): Promise<number | 'disconnected' | 'unanswered'> => {
    for (let attempt = 1; ; attempt++) {
      const r = await once(value);
      if (r === 'write-unanswered') {
        log.warn({ request: toHex(value, ' ') }, 'buttonless: the write itself went unanswered (no ATT Write Response); hanging up to look for the device');
        return 'unanswered';
      }
      if (r !== 'no-answer') return r;
      const again = attempt < BUTTONLESS_ASKS;
      log.warn(
        { request: toHex(value, ' '), attempt, waitedMs: answerMs },
        `buttonless: no answer (the indication may have been lost on the air)${again ? '; asking again' : '; hanging up to look for the device'}`,
      );
      if (!again) return 'unanswered';
    }
  };

  let name: string | undefined;
  let confirmed = false;
  try {
    if (options.bootloaderName !== undefined && !options.bonded) {
      const bytes = new TextEncoder().encode(options.bootloaderName);
      const r = await request(Uint8Array.of(BUTTONLESS_OPCODE.SET_NAME, bytes.length, ...bytes));
      if (r === 'unanswered') return { outcome: 'unanswered' };
      if (r === 'disconnected') {
        log.info('buttonless: the application reset when asked to name the bootloader (no SVCI hand-over); it has to be entered without a name');
        return { outcome: 'reset-on-name' };
      }
      if (r === 0x01) name = options.bootloaderName;
      else log.debug({ result: resultName(r) }, 'buttonless: bootloader name not accepted, continuing without it');
    }
    const r = await request(Uint8Array.of(BUTTONLESS_OPCODE.ENTER_BOOTLOADER));
    if (r === 'unanswered') return { outcome: 'unanswered' };
    confirmed = r === 0x01;
    if (r !== 'disconnected' && r !== 0x01) {
      const info = (BUTTONLESS_RESULT as Record<number, { name: string; message: string }>)[r];
      throw buttonlessFailed(
        `the application refused to enter the bootloader: ${resultName(r)}${info === undefined ? '' : ` (${info.message})`}`,
        REMEDIES[r] ?? 'put the device into DFU mode by hand and retry',
        { context: { buttonlessResult: resultName(r) } },
      );
    }
    log.debug({ result: r === 'disconnected' ? 'disconnected' : 'SUCCESS' }, 'buttonless: entering bootloader');
    // The device resets after the indication was confirmed; give it a moment to drop the link.
    // If it does not, our confirmation may have been lost on the air and the application may
    // still be waiting for it, so the entry is not taken for granted.
    if (!conn.closed.aborted) {
      const t = options.clock.timeoutSignal({ ms: Math.min(options.timeoutMs, 3000), code: 'TIMEOUT', layer: 'dfu', message: 'no disconnect' }, options.signal);
      await new Promise<void>((resolve) => {
        const done = (): void => resolve();
        if (t.signal.aborted || conn.closed.aborted) resolve();
        t.signal.addEventListener('abort', done, { once: true });
        conn.closed.addEventListener('abort', done, { once: true });
      });
      t.dispose();
      if (options.signal.aborted) throw abortReason(options.signal);
      if (!conn.closed.aborted) {
        confirmed = false;
        log.warn('buttonless: the application answered but kept the link; hanging up to look for the device in both modes');
      }
    }
  } finally {
    sub.close();
    // The link is usually down already (the device reset); a hang-up that fails must not hide
    // what happened before it.
    await conn.disconnect().catch((e: unknown) => log.debug({ err: isBledfuError(e) ? e.message : String(e) }, 'buttonless: hanging up failed'));
  }
  return { outcome: 'entered', bootloaderName: name, confirmed };
}

/**
 * How to recognise the bootloader after the jump: FE59 advertised and address = app + 1, or the
 * chosen name; the same address as the app also counts (bonded bootloaders and custom addresses).
 */
export function bootloaderMatch(app: DeviceAddress, name: string | undefined): DeviceMatch {
  const bl = bootloaderAddress(app);
  const fe59 = normalizeUuid(UUIDS.secureDfuService);
  return {
    kind: 'predicate',
    description: `Secure DFU bootloader (FE59 at ${bl.value}${name === undefined ? '' : ` or named "${name}"`}, or at ${app.value})`,
    test: (adv) => {
      const hasFe59 = adv.serviceUuids.some((u) => normalizeUuid(u) === fe59);
      if (name !== undefined && adv.name === name) return true;
      return hasFe59 && (adv.address.value === bl.value || adv.address.value === app.value);
    },
  };
}
