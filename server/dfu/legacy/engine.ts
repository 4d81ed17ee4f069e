/**
 * The legacy DFU procedure (nRF5 SDK ≤ 11 bootloaders, the Adafruit nRF52 bootloader and their
 * buttonless applications), behind the same DfuRunner contract as Secure DFU: the same events,
 * phases, retries, cancel and error codes (docs/legacy-dfu.md).
 *
 * Per image, on one connection to the bootloader (codec: controlPoint.ts):
 *   Start DFU 01 TT, the 12-byte size packet, and its answer 10 01 01 — which comes only once the
 *   bank is erased (seconds on a large bank; the Adafruit bootloader needs the erase to end
 *   before anything else is written, so nothing is written before this answer);
 *   Initialize DFU parameters 02 00, the init packet, 02 01 → 10 02 01;
 *   PRN request 08 NN NN (legacy bootloaders need packet receipt notifications on);
 *   Receive firmware image 03, the image in whole-word packets, → 10 03 01;
 *   Validate 04 → 10 04 01; Activate and reset 05: no answer, the device disconnects.
 * An SDK ≤ 6 bootloader (no DFU Revision characteristic) speaks DFU v1: Start DFU 01 with the
 * application size alone, the CRC-16 alone after 02 (answered at once), PRN at most 10.
 *
 * What legacy bootloaders cannot do and the engine does instead:
 *  - Resume: a bootloader that lost the link keeps what it received and answers Start DFU with
 *    INVALID_STATE; nothing continues an image. The engine asks it to reset (06) and sends the
 *    image again from the start, within options.retries (Nordic's Android LegacyDfuImpl does the
 *    same), and says so in the job's events.
 *  - A SoftDevice, bootloader and application in one Start DFU (type 07): SDK 11 refuses it
 *    (NOT_SUPPORTED, dfu_transport_ble.c), and nrfutil 0.5 packages carry one init packet (one
 *    CRC) per image anyway, so each image of the package gets its own Start DFU and connection:
 *    a softdevice_bootloader image as type 03, the application after the reset that activates it.
 */
import { bootloaderAddress, offsetLastOctet, type DeviceAddress } from '../../ble/address.js';
import { findDevice, type DeviceMatch } from '../../ble/discovery.js';
import type { Adapter, Advertisement, Connection, DiscoveryOptions, GattService } from '../../ble/types.js';
import { normalizeUuid, UUIDS } from '../../ble/uuid.js';
import type { Clock } from '../../common/clock.js';
import { abortReason, BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { quoteInput } from '../../common/quote.js';
import { detectDfu, describeServices, findCharacteristic } from '../buttonless/detect.js';
import { hasDeviceInfo, readDeviceInfo } from '../deviceInfo.js';
import { serviceMissing } from '../errors.js';
import { PhaseClock, type DfuPhaseName, type PhaseRecorder } from '../phases.js';
import type { DeviceClaim, DeviceInfo, DeviceState, DfuContext, DfuEvent, DfuOptions, DfuOutcome, DfuPhase, DfuRunner, DfuTarget, LegacyDfuPackage } from '../types.js';
import type { LegacyPackageImage } from '../package/images.js';
import { encodeLegacyApplicationSize, encodeLegacyImageSizes, expectLegacySuccess, LEGACY_MAX_PRN_SDK6, LEGACY_OPCODE, LEGACY_STATUS, legacyImageType } from './controlPoint.js';
import { LegacyLink } from './link.js';
import { decodeLegacyRevision, type LegacyRevision } from './revision.js';

/**
 * PRN interval when the options ask for none (0: flow control only, which legacy bootloaders do
 * not survive: they need notifications on to keep up with flash). 10 is what Nordic's libraries
 * default to for legacy DFU and what SDK ≤ 6 bootloaders take at most (LEGACY_MAX_PRN_SDK6).
 */
export const LEGACY_DEFAULT_PRN = 10;

/**
 * The PRN interval for a transfer: the options' (0 = none asked for: LEGACY_DEFAULT_PRN, since
 * legacy bootloaders need notifications on), at most LEGACY_MAX_PRN_SDK6 for an SDK ≤ 6 (DFU v1)
 * bootloader, which loses data above it.
 */
export function legacyPrn(asked: number, v1: boolean): number {
  const prn = asked > 0 ? Math.min(asked, 0xffff) : LEGACY_DEFAULT_PRN;
  return v1 ? Math.min(prn, LEGACY_MAX_PRN_SDK6) : prn;
}

/**
 * Extra time the answer to Start DFU may take: it comes only once the bank is erased, and SDK 11's
 * dual bank module erases the whole bank whatever the image's size (dfu_dual_bank.c), the single
 * bank one the image's pages. 256 pages (1 MiB of 4 KiB pages, more than any nRF52's application
 * area) at 100 ms each (nRF52 page erase: 85 ms at most, spec §8.3) bounds both.
 */
const ERASE_ALLOWANCE_MS = 256 * 100;

/** Event detail when an image starts over after a lost link (job events, docs/legacy-dfu.md). */
export const RESTART_DETAIL = 'restarting image: legacy DFU cannot resume';

const LEGACY_SERVICE = normalizeUuid(UUIDS.legacyDfuService);

/** Everything a look at a device needs: both DFU services (to tell them apart) and Device Information. */
const DISCOVERY: DiscoveryOptions = { characteristicsOf: [UUIDS.legacyDfuService, UUIDS.secureDfuService, UUIDS.experimentalButtonless, UUIDS.deviceInformationService] };

interface Run {
  readonly adapter: Adapter;
  readonly pkg: LegacyDfuPackage;
  readonly options: DfuOptions;
  readonly ctx: DfuContext;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly target: DfuTarget;
  readonly totalBytes: number;
  readonly phases: PhaseRecorder;
  /** The application's address, when known. */
  appAddress: DeviceAddress | undefined;
  appName: string | undefined;
  /** Where the bootloader was last found. */
  bootloaderAddress: DeviceAddress | undefined;
  bootloaderName: string | undefined;
  /** The device was first met in its bootloader (the application's address is then a guess). */
  startedInBootloader: boolean;
  deviceInfo: DeviceInfo | undefined;
  claimed: boolean;
  /** Buttonless jumps made (bounded: an application that never hands over must not loop). */
  jumps: number;
}

const MAX_JUMPS = 6;

function emit(run: Run, event: DfuEvent): void {
  try {
    run.ctx.onEvent(event);
  } catch (e) {
    run.log.warn({ err: e }, 'DFU event handler threw');
  }
}

function phase(run: Run, p: DfuPhase, detail: string): void {
  run.log.info({ phase: p, protocol: 'legacy' }, detail);
  emit(run, { kind: 'phase', phase: p, detail });
}

function timed<T>(run: Run, p: DfuPhaseName, fn: () => Promise<T>): Promise<T> {
  return run.phases.during(p, fn);
}

function pause(run: Run, p: 'reboot' | 'scan'): Promise<void> {
  return timed(run, p, () => run.clock.sleep(run.options.rebootDelayMs, run.signal));
}

async function safeDisconnect(conn: Connection | undefined): Promise<void> {
  await conn?.disconnect().catch(() => undefined);
}

function isLinkFailure(e: unknown): boolean {
  return hasCode(e, 'LINK_LOST') || hasCode(e, 'CONNECT_FAILED') || hasCode(e, 'DFU_TIMEOUT') || hasCode(e, 'ATT_TIMEOUT');
}

function gaveUp(e: unknown, attempts: number): unknown {
  if (!isBledfuError(e)) return e;
  return new BledfuError(e.code, `${e.message} (gave up after ${attempts} ${attempts === 1 ? 'retry' : 'retries'})`, {
    layer: e.layer,
    remedy: e.remedy ?? 'move the device closer to the adapter and retry',
    facts: e.facts,
    cause: e,
  });
}

/** The bootloader's answer to Validate: the received image does not match its init packet's CRC. */
function isCorrupted(e: unknown): boolean {
  return hasCode(e, 'DFU_REMOTE_ERROR') && e.facts.dfuResultName === 'LEGACY_CRC_ERROR';
}

function advertisesLegacyDfu(adv: Advertisement): boolean {
  return adv.serviceUuids.some((u) => normalizeUuid(u) === LEGACY_SERVICE);
}

/** What a connected device offers, from its services. */
type Found =
  | { readonly kind: 'bootloader'; readonly link: LegacyLink; readonly revision: LegacyRevision | undefined }
  | { readonly kind: 'application'; readonly link: LegacyLink }
  | { readonly kind: 'secure' }
  | { readonly kind: 'none' };

/**
 * The legacy DFU service of a connected device, opened (control point subscribed), and whether
 * it is the bootloader or an application that can only jump (DFU Revision 0x0001). A device that
 * speaks Secure DFU instead is 'secure': the caller refuses it before writing anything.
 */
async function openService(run: Run, conn: Connection, services: readonly GattService[]): Promise<Found> {
  const cp = findCharacteristic(services, UUIDS.legacyDfuService, UUIDS.legacyDfuControlPoint);
  const packet = findCharacteristic(services, UUIDS.legacyDfuService, UUIDS.legacyDfuPacket);
  if (cp === undefined || packet === undefined) {
    const secure = detectDfu(services).kind;
    return secure === 'bootloader' || secure === 'buttonless' || secure === 'experimental' ? { kind: 'secure' } : { kind: 'none' };
  }
  const rev = findCharacteristic(services, UUIDS.legacyDfuService, UUIDS.legacyDfuRevision);
  const revision = rev === undefined ? undefined : decodeLegacyRevision(await timed(run, 'connect', () => conn.read(rev.valueHandle, run.signal)));
  const link = await timed(run, 'connect', () => LegacyLink.open(conn, cp, packet, { requestTimeoutMs: run.options.requestTimeoutMs, signal: run.signal, clock: run.clock, logger: run.log }));
  if (revision?.role === 'application') return { kind: 'application', link };
  return { kind: 'bootloader', link, revision };
}

/**
 * Where the device may be: as the target names it, at the application's address (+ 1 for a
 * bootloader without bonds, advertising the legacy DFU service; the same address for a bonded
 * one, openly or with directed advertising toward this adapter), or where the server last met
 * its bootloader.
 */
function deviceMatch(run: Run): DeviceMatch {
  const same = new Set<string>();
  const plusOne = new Set<string>();
  const names = new Set<string>();
  if (run.target.kind === 'address') same.add(run.target.address.value);
  else names.add(run.target.name);
  if (run.appAddress !== undefined) {
    same.add(run.appAddress.value);
    plusOne.add(bootloaderAddress(run.appAddress).value);
  }
  if (run.bootloaderAddress !== undefined) same.add(run.bootloaderAddress.value);
  for (const e of run.ctx.devices?.recall(run.target) ?? []) {
    same.add(e.bootloaderAddress.value);
    if (e.appAddress !== undefined) same.add(e.appAddress.value);
  }
  if (run.target.kind === 'address') plusOne.add(bootloaderAddress(run.target.address).value);
  const where = [...same, ...[...plusOne].map((a) => `${a} (bootloader)`), ...[...names].map((n) => `named ${quoteInput(n)}`)];
  return {
    kind: 'predicate',
    description: `device ${where.join(' or ')}`,
    test: (adv) => same.has(adv.address.value) || (plusOne.has(adv.address.value) && advertisesLegacyDfu(adv)) || (adv.name !== undefined && names.has(adv.name)),
  };
}

function claimFor(adv: Advertisement, run: Run): DeviceClaim {
  const addresses = [adv.address, bootloaderAddress(adv.address), offsetLastOctet(adv.address, -1), run.appAddress, run.bootloaderAddress].filter((a): a is DeviceAddress => a !== undefined);
  const unique = [...new Map(addresses.map((a) => [a.value, a])).values()];
  const names = [adv.name, run.appName].filter((n): n is string => n !== undefined && n !== 'DfuTarg');
  return { addresses: unique, names: [...new Set(names)], description: `${adv.name ?? adv.address.value} (${adv.address.value})` };
}

async function connect(run: Run, address: DeviceAddress): Promise<Connection> {
  return timed(run, 'connect', () => run.adapter.connect(address, { signal: run.signal, mtu: run.options.mtu, timeoutMs: Math.max(run.options.scanTimeoutMs, 5000), waitForFreeLink: true }));
}

/** The first time the device is reached: what its application says in Device Information (nothing for a bootloader), reported once. */
async function firstLook(run: Run, conn: Connection, services: readonly GattService[], inBootloader: boolean): Promise<string | undefined> {
  if (run.deviceInfo !== undefined) return undefined;
  const info = inBootloader || !hasDeviceInfo(services) ? {} : await timed(run, 'connect', () => readDeviceInfo(conn, services, run.log, run.signal));
  run.deviceInfo = info;
  emit(run, { kind: 'device-info', info });
  const skip = run.options.skipIfFirmwareRevision;
  return skip !== undefined && info.firmwareRevision === skip ? skip : undefined;
}

type Reached = { readonly kind: 'reached'; readonly link: LegacyLink; readonly revision: LegacyRevision | undefined } | { readonly kind: 'skipped'; readonly address: DeviceAddress; readonly revision: string };

/**
 * Finds the device and connects to its bootloader: an application with the legacy DFU service
 * is asked to jump (Start DFU on its control point), and the bootloader is then looked for at the
 * same address or address + 1. `looking`: what the time until the device is seen counts as.
 */
async function reachBootloader(run: Run, looking: 'scan' | 'reboot', why: string): Promise<Reached> {
  // Links lost before the transfer (connecting, discovering, jumping): each costs a new look, up to options.retries.
  let lostLinks = 0;
  for (;;) {
    const match = deviceMatch(run);
    const adv = await timed(run, looking, () => findDevice(run.adapter, match, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
    if (!run.claimed) {
      if ((await run.ctx.claimDevice?.(claimFor(adv, run))) === 'waited') {
        phase(run, 'connecting', `the other job has ended; looking for ${describeTarget(run.target)} again`);
        continue;
      }
      run.claimed = true;
      emit(run, { kind: 'device', address: adv.address });
    }
    let conn: Connection | undefined;
    try {
      conn = await connect(run, adv.address);
      const c = conn;
      const services = await timed(run, 'connect', () => c.discoverServices(run.signal, DISCOVERY));
      const found = await openService(run, conn, services);
      if (found.kind === 'secure' || found.kind === 'none') {
        throw serviceMissing(
          found.kind === 'secure'
            ? `${adv.address.value} speaks Secure DFU (nRF5 SDK 12 or later), but this is a legacy DFU package (nrfutil ≤ 0.5 / adafruit-nrfutil); nothing was sent; found: ${describeServices(services)}`
            : `${adv.address.value} has no legacy DFU service (0x1530); found: ${describeServices(services)}`,
          found.kind === 'secure'
            ? 'make a Secure DFU package for this device with nrfutil pkg generate (nrfutil 1.5 or later) and send that'
            : 'check that this is the device to update; if it is, put it into DFU mode by hand (usually a button held at reset) and retry',
        );
      }
      const skip = await firstLook(run, conn, services, found.kind === 'bootloader');
      if (skip !== undefined) {
        found.link.close();
        await safeDisconnect(conn);
        phase(run, 'connecting', `${adv.address.value} already runs firmware revision "${skip}": not updating it`);
        return { kind: 'skipped', address: adv.address, revision: skip };
      }
      if (found.kind === 'bootloader') {
        const fresh = run.bootloaderAddress?.value !== adv.address.value;
        run.bootloaderAddress = adv.address;
        run.bootloaderName = adv.name ?? run.bootloaderName;
        if (run.appAddress === undefined) {
          // Met in its bootloader first: the application is usually at address − 1 (no bonds), else at the same address.
          run.startedInBootloader = true;
          run.appAddress = advertisesLegacyDfu(adv) ? offsetLastOctet(adv.address, -1) : adv.address;
        }
        if (fresh) emit(run, { kind: 'bootloader', address: adv.address, name: adv.name });
        run.ctx.devices?.remember({ appAddress: run.appAddress, appName: run.appName, bootloaderAddress: adv.address, bootloaderName: adv.name });
        run.log.info(
          { address: adv.address.value, revision: found.revision?.text ?? 'absent' },
          `legacy bootloader: ${found.revision?.meaning ?? 'no DFU Revision characteristic: SDK ≤ 6.1, DFU v1'}`,
        );
        return { kind: 'reached', link: found.link, revision: found.revision };
      }
      // The application: ask it to jump.
      run.appAddress = adv.address;
      run.appName = adv.name ?? run.appName ?? (run.target.kind === 'name' ? run.target.name : undefined);
      if (run.options.buttonless === 'off') {
        throw serviceMissing(
          `${adv.address.value} is running its application, not the legacy DFU bootloader: it offers legacy buttonless DFU, but buttonless entry is switched off (--buttonless off)`,
          'let bledfu ask the application to enter its bootloader (--buttonless auto), or put the device into DFU mode by hand and retry',
        );
      }
      if (++run.jumps > MAX_JUMPS) {
        throw new BledfuError('BUTTONLESS_FAILED', `the application at ${adv.address.value} was asked ${MAX_JUMPS} times to enter its bootloader`, {
          layer: 'dfu',
          remedy: 'restart the device and retry; if it persists, put it into DFU mode by hand (usually a button held at reset)',
        });
      }
      phase(run, 'entering-bootloader', `asking the application at ${adv.address.value} to enter its legacy bootloader (Start DFU on its control point)${why === '' ? '' : `: ${why}`}`);
      await timed(run, 'buttonless', () => jump(run, found.link));
      // Remembered before looking: a retry finds the bootloader even if this job ends first.
      run.ctx.devices?.remember({ appAddress: adv.address, appName: run.appName, bootloaderAddress: bootloaderAddress(adv.address), bootloaderName: undefined });
      looking = 'reboot';
      await pause(run, 'reboot');
    } catch (e) {
      await safeDisconnect(conn);
      if (run.signal.aborted || !isLinkFailure(e)) throw e;
      if (lostLinks >= run.options.retries) throw gaveUp(e, lostLinks);
      lostLinks++;
      const err = isBledfuError(e) ? e : undefined;
      run.log.warn({ code: err?.code, reconnect: lostLinks, of: run.options.retries }, `link failure before the transfer: ${err?.message ?? String(e)}`);
      phase(run, 'connecting', `the link to ${adv.address.value} failed (${err?.code ?? 'error'}); looking for the device again`);
      await pause(run, 'scan');
    }
  }
}

/** Start DFU on the application's control point: it disconnects and resets into its bootloader (no answer is sent). */
async function jump(run: Run, link: LegacyLink): Promise<void> {
  try {
    await link.write({ op: 'startDfu', imageType: legacyImageType('application') });
  } catch (e) {
    // The application may drop the link before its Write Response is out: that is the jump.
    if (run.signal.aborted || !hasCode(e, 'LINK_LOST')) throw e;
  }
  if (!link.conn.closed.aborted) {
    const t = run.clock.timeoutSignal(
      { ms: run.options.requestTimeoutMs, code: 'BUTTONLESS_FAILED', layer: 'dfu', message: 'the application did not reset into its bootloader after Start DFU', remedy: 'restart the device and retry, or put it into DFU mode by hand' },
      run.signal,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => resolve();
        link.conn.closed.addEventListener('abort', done, { once: true });
        t.signal.addEventListener('abort', () => reject(abortReason(t.signal)), { once: true });
      });
    } finally {
      t.dispose();
    }
  }
  link.close();
}

function describeTarget(target: DfuTarget): string {
  return target.kind === 'address' ? target.address.value : quoteInput(target.name);
}

interface ImageStep {
  readonly index: number;
  readonly image: LegacyPackageImage;
  readonly before: number;
}

function progress(run: Run, s: ImageStep, sent: number): void {
  emit(run, {
    kind: 'progress',
    imageIndex: s.index,
    imageCount: run.pkg.images.length,
    imageKind: s.image.summary.kind,
    imageBytesSent: sent,
    imageBytesTotal: s.image.bin.length,
    imageBytesAtStart: 0,
    totalBytesSent: s.before + sent,
    totalBytesTotal: run.totalBytes,
  });
}

/** The bootloader holds an interrupted transfer (Start DFU answered INVALID_STATE): it must reset first. */
class NeedsReset extends Error {}

/**
 * One pass over an image on one link, from Start DFU to Activate and reset. Throws NeedsReset
 * when the bootloader is still busy with an earlier transfer.
 */
async function transferImage(run: Run, link: LegacyLink, revision: LegacyRevision | undefined, s: ImageStep): Promise<void> {
  const { bin, dat, summary } = s.image;
  const kind = summary.kind;
  const v1 = revision === undefined;
  if (v1 && kind !== 'application') {
    throw serviceMissing(
      `the bootloader at ${link.conn.address.value} has no DFU Revision characteristic (nRF5 SDK ≤ 6.1, DFU v1): it updates applications only, and this image is a ${kind}`,
      'send an application-only package to this bootloader, or update it with a tool for SDK 6 bootloaders first',
    );
  }
  const what = (step: string): string => `${step} of the ${kind} image`;

  // Start DFU and the size packet; the answer comes once the bank is erased.
  run.phases.enter('initPacket');
  await link.write({ op: 'startDfu', imageType: v1 ? undefined : legacyImageType(kind) });
  await link.data(v1 ? encodeLegacyApplicationSize(bin.length) : encodeLegacyImageSizes(summary.sizes));
  const started = await timed(run, 'flashWait', () => link.response(LEGACY_OPCODE.START_DFU, what('Start DFU (bank erase)'), run.options.requestTimeoutMs + ERASE_ALLOWANCE_MS));
  if (started.status === LEGACY_STATUS.INVALID_STATE) throw new NeedsReset();
  expectLegacySuccess(started, LEGACY_OPCODE.START_DFU, what('Start DFU'));

  // Init packet: DFU v1 takes the image's CRC-16 alone, answered at once.
  if (v1) {
    await link.write({ op: 'initDfuParams', phase: undefined });
    await link.data(Uint8Array.of(summary.crc16 & 0xff, summary.crc16 >> 8));
    await link.expect(LEGACY_OPCODE.INIT_DFU_PARAMS, what('the init packet (CRC-16)'));
  } else {
    await link.write({ op: 'initDfuParams', phase: 'start' });
    await link.writeAll(dat);
    await link.request({ op: 'initDfuParams', phase: 'complete' }, what('the init packet'));
  }

  // Firmware, paced by packet receipt notifications.
  run.phases.enter('dataTransfer');
  const prn = legacyPrn(run.options.prn, v1);
  await link.write({ op: 'packetReceiptNotificationRequest', packets: prn });
  await link.write({ op: 'receiveFirmwareImage' });
  progress(run, s, 0);
  let reported = 0;
  await link.stream(bin, prn, what('the firmware'), (bytes) => {
    if (bytes <= reported) return;
    reported = bytes;
    progress(run, s, bytes);
  });

  // Validate (the bootloader's CRC-16 over the bank), then activate: no answer, the device resets.
  run.phases.enter('activation');
  await link.request({ op: 'validate' }, what('Validate'));
  phase(run, 'activating', `the ${kind} image was received and validated; activating it (the device resets)`);
  try {
    await link.write({ op: 'activateAndReset' });
  } catch (e) {
    if (run.signal.aborted || !hasCode(e, 'LINK_LOST')) throw e;
  }
  link.close();
  await safeDisconnect(link.conn);
}

/** System reset (06): the bootloader drops what it holds and restarts; it disconnects without an answer. */
async function resetBootloader(run: Run, link: LegacyLink): Promise<void> {
  run.log.info({ address: link.conn.address.value }, 'the bootloader holds an interrupted transfer: resetting it (legacy DFU cannot continue an image)');
  try {
    await link.write({ op: 'reset' });
  } catch (e) {
    if (run.signal.aborted || !hasCode(e, 'LINK_LOST')) throw e;
  }
  link.close();
  await safeDisconnect(link.conn);
}

/** Sends one image, restarting it from the start after a lost link (within options.retries). */
async function sendImage(run: Run, first: Reached & { kind: 'reached' }, s: ImageStep): Promise<void> {
  let current: { link: LegacyLink; revision: LegacyRevision | undefined } | undefined = first;
  let restarts = 0;
  let resets = 0;
  // After a System Reset the device is rebooting: the time until it is seen again is a reboot wait.
  let rebooting = false;
  for (;;) {
    try {
      current ??= await reached(run, rebooting ? 'reboot' : 'scan', `to restart the ${s.image.summary.kind} image`);
      rebooting = false;
      phase(
        run,
        restarts === 0 ? 'transferring' : 'resuming',
        `${restarts === 0 ? 'sending' : `${RESTART_DETAIL}; sending`} the ${s.image.summary.kind} image (${s.index + 1}/${run.pkg.images.length}, ${s.image.bin.length} bytes) to ${current.link.conn.address.value}`,
      );
      await transferImage(run, current.link, current.revision, s);
      return;
    } catch (e) {
      const link = current?.link;
      current = undefined;
      if (e instanceof NeedsReset && link !== undefined) {
        // Each reset is bounded too: a bootloader that keeps answering INVALID_STATE is not helped by more.
        if (++resets > run.options.retries + 1) {
          throw new BledfuError('DFU_REMOTE_ERROR', `the legacy bootloader still answers Start DFU with INVALID_STATE after ${resets - 1} resets`, {
            layer: 'dfu',
            remedy: 'power-cycle the device and retry',
            facts: { dfuResult: LEGACY_STATUS.INVALID_STATE, dfuResultName: 'LEGACY_INVALID_STATE', context: { protocol: 'legacy' } },
          });
        }
        await resetBootloader(run, link);
        await pause(run, 'reboot');
        rebooting = true;
        continue;
      }
      if (run.signal.aborted) {
        link?.close();
        await safeDisconnect(link?.conn);
        throw abortReason(run.signal);
      }
      if (isCorrupted(e) && link !== undefined && !link.conn.closed.aborted && restarts < run.options.retries) {
        // The bank failed its CRC-16 at Validate and stays in that state until a reset: data was
        // corrupted on the way, which sending the image again may get through (as Secure DFU
        // sends an object again).
        restarts++;
        run.log.warn({ restart: restarts, of: run.options.retries }, `the ${s.image.summary.kind} image failed the bootloader's CRC check; ${RESTART_DETAIL}`);
        phase(run, 'resuming', `the ${s.image.summary.kind} image arrived corrupted (LEGACY_CRC_ERROR); ${RESTART_DETAIL}`);
        await resetBootloader(run, link);
        await pause(run, 'reboot');
        rebooting = true;
        continue;
      }
      link?.close();
      await safeDisconnect(link?.conn);
      if (!isLinkFailure(e)) throw e;
      if (restarts >= run.options.retries) throw gaveUp(e, restarts);
      restarts++;
      const err = isBledfuError(e) ? e : undefined;
      run.log.warn({ code: err?.code, restart: restarts, of: run.options.retries }, `link failure during the ${s.image.summary.kind} image: ${err?.message ?? String(e)}; ${RESTART_DETAIL}`);
      phase(run, 'resuming', `the link failed during the ${s.image.summary.kind} image (${err?.code ?? 'error'}); ${RESTART_DETAIL}`);
      await pause(run, 'scan');
    }
  }
}

async function reached(run: Run, looking: 'scan' | 'reboot', why: string): Promise<{ link: LegacyLink; revision: LegacyRevision | undefined }> {
  const r = await reachBootloader(run, looking, why);
  if (r.kind === 'skipped') {
    // Only the first look can skip; later looks never see a new device-info.
    throw new BledfuError('INTERNAL', 'skip after the update started', { layer: 'dfu' });
  }
  return r;
}

/** Where the device ended after the last image, and the Firmware Revision String its application reports. */
async function findUpdatedDevice(run: Run): Promise<{ address: DeviceAddress; state: DeviceState; revision: string | undefined } | undefined> {
  let conn: Connection | undefined;
  try {
    await pause(run, 'reboot');
    const adv = await timed(run, 'reboot', () => findDevice(run.adapter, deviceMatch(run), { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
    conn = await connect(run, adv.address);
    const c = conn;
    const services = await timed(run, 'connect', () => c.discoverServices(run.signal, DISCOVERY));
    const rev = findCharacteristic(services, UUIDS.legacyDfuService, UUIDS.legacyDfuRevision);
    const hasService = findCharacteristic(services, UUIDS.legacyDfuService, UUIDS.legacyDfuControlPoint) !== undefined;
    const revision = rev === undefined ? undefined : decodeLegacyRevision(await timed(run, 'finalRead', () => c.read(rev.valueHandle, run.signal)));
    if (hasService && revision?.role !== 'application' && !hasDeviceInfo(services)) {
      run.log.info({ address: adv.address.value }, 'the device stays in its legacy bootloader (DFU mode) after the update');
      return { address: adv.address, state: 'dfu-mode', revision: undefined };
    }
    const ch = findCharacteristic(services, UUIDS.deviceInformationService, UUIDS.firmwareRevision);
    if (ch === undefined) return { address: adv.address, state: 'application', revision: undefined };
    const value = await timed(run, 'finalRead', () => c.read(ch.valueHandle, run.signal));
    return { address: adv.address, state: 'application', revision: new TextDecoder().decode(value).replace(/\0+$/, '') };
  } catch (e) {
    if (run.signal.aborted) {
      run.log.info('cancelled after the update completed; not looking for the device');
      return undefined;
    }
    run.log.info({ err: isBledfuError(e) ? e.message : String(e) }, 'could not find the updated device or read its firmware revision');
    return undefined;
  } finally {
    const c = conn;
    await timed(run, 'finalRead', () => safeDisconnect(c));
  }
}

export const runLegacyDfu: DfuRunner<LegacyDfuPackage> = async (adapter, pkg, target, options, context): Promise<DfuOutcome> => {
  if (pkg.images.length === 0) throw new BledfuError('PACKAGE_INVALID', 'package has no images', { layer: 'package' });
  const run: Run = {
    adapter,
    pkg,
    options,
    ctx: context,
    log: context.logger.child({ protocol: 'legacy' }),
    signal: context.signal,
    clock: context.clock,
    target,
    totalBytes: pkg.images.reduce((n, i) => n + i.bin.length, 0),
    phases: context.phases ?? new PhaseClock(() => context.clock.now()),
    appAddress: target.kind === 'address' ? target.address : undefined,
    appName: target.kind === 'name' ? target.name : undefined,
    bootloaderAddress: undefined,
    bootloaderName: undefined,
    startedInBootloader: false,
    deviceInfo: undefined,
    claimed: false,
    jumps: 0,
  };
  try {
    phase(run, 'connecting', `looking for ${describeTarget(target)} (legacy DFU)`);
    const first = await reachBootloader(run, 'scan', '');
    if (first.kind === 'skipped') return { address: first.address, firmwareRevision: first.revision, deviceState: 'application', skipped: 'firmware-revision' };
    let before = 0;
    for (const [index, image] of pkg.images.entries()) {
      // After an image's activation the device resets: into its bootloader (a SoftDevice leaves no
      // valid application) or into its application, which is asked to jump again.
      const at = index === 0 ? first : { kind: 'reached' as const, ...(await reached(run, 'reboot', `for the ${image.summary.kind} image`)) };
      await sendImage(run, at, { index, image, before });
      before += image.bin.length;
      if (index < pkg.images.length - 1) await pause(run, 'reboot');
    }
    const found = await findUpdatedDevice(run);
    if (found?.state === 'dfu-mode') phase(run, 'activating', `the images were activated; the device stays in its legacy bootloader (DFU mode) at ${found.address.value}`);
    const address = found?.state === 'application' ? found.address : (run.appAddress ?? found?.address ?? run.bootloaderAddress);
    if (address === undefined) throw new BledfuError('INTERNAL', 'no device address after a DFU', { layer: 'dfu' });
    return {
      address,
      ...(found === undefined ? {} : { deviceState: found.state }),
      ...(found?.revision === undefined ? {} : { firmwareRevision: found.revision }),
    };
  } catch (e) {
    if (context.signal.aborted) throw abortReason(context.signal);
    throw e;
  }
};
