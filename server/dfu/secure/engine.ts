/**
 * The Secure DFU procedure (spec §3, §4): find the device, jump to the bootloader if needed,
 * send every image of the package with resume and retries, then wait for the new application.
 */
import { bootloaderAddress, offsetLastOctet, type DeviceAddress } from '../../ble/address.js';
import { describeMatch, findDevice, matches, type DeviceMatch } from '../../ble/discovery.js';
import type { Adapter, Advertisement, Connection, DiscoveryOptions, GattService } from '../../ble/types.js';
import { normalizeUuid, UUIDS } from '../../ble/uuid.js';
import { abortReason, BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../common/clock.js';
import { crc32 } from '../../common/crc32.js';
import { describeServices, detectDfu, findCharacteristic, type DfuCapability } from '../buttonless/detect.js';
import { bootloaderMatch, enterBootloader, randomBootloaderName } from '../buttonless/enter.js';
import { hasDeviceInfo, readDeviceInfo } from '../deviceInfo.js';
import { buttonlessFailed, dfuCrcMismatch, dfuProtocolError, serviceMissing } from '../errors.js';
import { PhaseClock, type DfuPhaseName, type PhaseRecorder } from '../phases.js';
import type { DeviceInfo, DeviceState, DfuContext, DfuEvent, DfuOptions, DfuOutcome, DfuPackage, DfuRunner, DfuTarget, PackageImage } from '../types.js';
import { EXT_ERROR, OBJECT_TYPE, RESULT, type ControlPointResponse } from './controlPoint.js';
import { BootloaderLink, remoteError, type StepContext } from './link.js';
import { judgeChecksum, objectAt, objectEndPrn, packetSizeForMtu, planCommand, planData, PrefixCrc } from './objects.js';
import { bootloaderFacts, claimFor, foundInBootloaderText, notFoundRemedy, targetOrBootloader, targetText, type Sighting } from './whereabouts.js';

/**
 * What each connection of a DFU explores (DiscoveryOptions): each unexplored service saves a few
 * ATT round trips of two connection events each. detectDfu needs the characteristics of the Secure
 * DFU service and of SDK 12's experimental buttonless service (the legacy DFU service and the
 * others only by UUID, which every discovery lists); the bootloader link needs the DFU service; the
 * first look at the device and the final read also the Device Information Service (a bootloader
 * has none, so exploring it there costs nothing).
 */
const DFU_DISCOVERY: DiscoveryOptions = { characteristicsOf: [UUIDS.secureDfuService, UUIDS.experimentalButtonless] };
const FIRST_LOOK_DISCOVERY: DiscoveryOptions = { characteristicsOf: [UUIDS.secureDfuService, UUIDS.experimentalButtonless, UUIDS.deviceInformationService] };
const BOOTLOADER_DISCOVERY: DiscoveryOptions = { characteristicsOf: [UUIDS.secureDfuService] };
const FINAL_READ_DISCOVERY: DiscoveryOptions = { characteristicsOf: [UUIDS.secureDfuService, UUIDS.deviceInformationService] };

interface Run {
  readonly adapter: Adapter;
  readonly pkg: DfuPackage;
  readonly options: DfuOptions;
  readonly ctx: DfuContext;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly totalBytes: number;
  /** Where the bootloader is expected: refined once it was seen. */
  bootloader: DeviceMatch;
  /** The application's address, when known (to find the device between images and at the end). */
  appAddress: DeviceAddress | undefined;
  /** The address the bootloader was last found at. */
  bootloaderAddress: DeviceAddress | undefined;
  /** The name the bootloader advertised when last found. */
  bootloaderName: string | undefined;
  /** Buttonless entries this job made (at most MAX_BUTTONLESS_ENTRIES). */
  buttonlessEntries: number;
  /** The target was already in DFU mode, so the application's address is a guess. */
  startedInBootloader: boolean;
  /**
   * PRN interval in use: options.prn until bytes were lost on the way (spec §3.3 step 5), then 1
   * for the rest of the run, since the host stack evidently drops writes without flow control.
   */
  prn: number;
  /**
   * With options.prn 0, whether the stream waits (briefly, prnWaitMs) for the PRN at a full
   * object's last packet instead of asking for the CRC: cleared for the rest of the run after one
   * did not come in time, so a device or link where it is late costs that wait once.
   */
  awaitObjectEndPrn: boolean;
  /** Where this run's time goes (DfuContext.phases, or the engine's own). */
  readonly phases: PhaseRecorder;
  /** What the device said about itself when first reached (reported once, as a device-info event). */
  deviceInfo: DeviceInfo | undefined;
  /**
   * The application's address the device memory gives for the bootloader the run started in,
   * when the target named that bootloader: where the application comes back after activation.
   */
  rememberedApp: DeviceAddress | undefined;
  /**
   * Where the device was met after the link was lost once the last image's final Execute was
   * sent, found in its application (lookAfterFinalExecute): the end state, no second look needed.
   */
  activatedUnseen: EndState | undefined;
  /** Said at the end of the job's detail (DfuOutcome.notice), when something about the outcome needs saying. */
  notice: string | undefined;
}

/** A Create that was accepted but whose object was not executed yet (for the cancel log). */
interface Announced {
  type: 'command' | 'data';
  start: number;
  end: number;
  sent: number;
}

function emit(run: Run, event: DfuEvent): void {
  try {
    run.ctx.onEvent(event);
  } catch (e) {
    run.log.warn({ err: e }, 'DFU event handler threw');
  }
}

function phase(run: Run, p: 'connecting' | 'entering-bootloader' | 'transferring' | 'resuming' | 'activating', detail: string): void {
  run.log.info({ phase: p }, detail);
  emit(run, { kind: 'phase', phase: p, detail });
}

/** Runs `fn` in one phase of the job's time accounting (dfu/phases.ts). */
function timed<T>(run: Run, p: DfuPhaseName, fn: () => Promise<T>): Promise<T> {
  return run.phases.during(p, fn);
}

/** A pause before looking for a device: counted as a reboot wait when the device is resetting. */
function pause(run: Run, p: 'reboot' | 'scan'): Promise<void> {
  return timed(run, p, () => run.clock.sleep(run.options.rebootDelayMs, run.signal));
}

function targetMatch(target: DfuTarget): DeviceMatch {
  return target.kind === 'address' ? { kind: 'address', address: target.address } : { kind: 'name', name: target.name };
}

/** Waits for a free link when all are in use: another job's link may still be going down (LinkSlots). */
async function connect(run: Run, address: DeviceAddress): Promise<Connection> {
  return timed(run, 'connect', () => run.adapter.connect(address, { signal: run.signal, mtu: run.options.mtu, timeoutMs: Math.max(run.options.scanTimeoutMs, 5000), waitForFreeLink: true }));
}

async function safeDisconnect(conn: Connection | undefined): Promise<void> {
  await conn?.disconnect().catch(() => undefined);
}

/**
 * Buttonless entries one job makes before giving up: one, again after an answer lost on the air
 * (the device was found still in its application), and once more.
 */
const MAX_BUTTONLESS_ENTRIES = 3;

function isLinkFailure(e: unknown): boolean {
  return hasCode(e, 'LINK_LOST') || hasCode(e, 'CONNECT_FAILED') || hasCode(e, 'DFU_TIMEOUT') || hasCode(e, 'ATT_TIMEOUT');
}

/** The device found running the firmware revision DfuOptions.skipIfFirmwareRevision names: left alone. */
interface Skipped {
  readonly kind: 'skipped';
  readonly address: DeviceAddress;
  readonly firmwareRevision: string;
}

/**
 * The first time the device is reached: records (and reports, once) what its application says in
 * its Device Information service — nothing for a bootloader. Returns the skip when its firmware
 * revision is the one the options say to leave alone; the caller then writes nothing.
 */
async function firstLook(run: Run, conn: Connection, services: readonly GattService[], inBootloader: boolean): Promise<Skipped | undefined> {
  if (run.deviceInfo !== undefined) return undefined;
  const info = inBootloader || !hasDeviceInfo(services) ? {} : await timed(run, 'connect', () => readDeviceInfo(conn, services, run.log, run.signal));
  run.deviceInfo = info;
  run.log.info({ deviceInfo: info }, inBootloader ? 'found in its bootloader: no Device Information' : 'Device Information read');
  emit(run, { kind: 'device-info', info });
  const skip = run.options.skipIfFirmwareRevision;
  if (skip === undefined || info.firmwareRevision !== skip) return undefined;
  return { kind: 'skipped', address: conn.address, firmwareRevision: skip };
}

/**
 * Finds the target, and if it runs an application with buttonless DFU, makes it jump.
 * Returns the connection to the bootloader, or the skip when the application runs the firmware
 * revision the options say to leave alone.
 */
async function reachBootloader(run: Run, target: DfuTarget): Promise<{ kind: 'reached'; conn: Connection; link: BootloaderLink } | Skipped> {
  const { options } = run;
  phase(run, 'connecting', `looking for ${targetText(target)}`);
  // One scan for the device as named and for its bootloader (a retry after a cancelled or refused
  // update finds it in DFU mode): whichever answers first.
  let remembered = run.ctx.devices?.recall(target) ?? [];
  let whereabouts = targetOrBootloader(target, remembered);
  let match = whereabouts.match;
  let classify: (adv: Advertisement) => Sighting = whereabouts.classify;
  // Cleared when the application reset on the set-name request (spec §4.1 step 3): it is then
  // found again at the same address and asked to enter without a name, so this loop runs twice at most.
  let nameTheBootloader = true;
  // Set after an entry whose answer never came: the device is then looked for in both modes.
  let unconfirmedEntry = false;
  // Links lost (or whose ATT bearer timed out) before the transfer began: each costs a new look
  // for the device, as a loss during the transfer costs a reconnect, up to options.retries.
  let lostLinks = 0;
  // Set after a buttonless jump: the next look is for a device that is resetting.
  let resetting = false;
  for (;;) {
    const adv = await timed(run, resetting ? 'reboot' : 'scan', () =>
      findDevice(run.adapter, match, {
        timeoutMs: options.scanTimeoutMs,
        signal: run.signal,
        clock: run.clock,
        remedy: (seen) => notFoundRemedy(target, remembered, seen),
      }),
    );
    resetting = false;
    const sighting = classify(adv);
    const entry = sighting.kind === 'target' ? undefined : sighting.entry;
    // Another job may be updating this device (named another way): wait for it, then look again,
    // since that job has moved the device on (updated it, or left it in its bootloader).
    if ((await run.ctx.claimDevice?.(claimFor(adv, entry))) === 'waited') {
      phase(run, 'connecting', `the other job has ended; looking for ${targetText(target)} again`);
      // That job may have sent the device to its bootloader meanwhile: ask the memory again.
      remembered = run.ctx.devices?.recall(target) ?? [];
      whereabouts = targetOrBootloader(target, remembered);
      match = whereabouts.match;
      classify = whereabouts.classify;
      continue;
    }
    if (nameTheBootloader) {
      const app = sighting.kind === 'bootloader' ? (entry?.appAddress ?? (target.kind === 'address' ? target.address : undefined)) : undefined;
      emit(run, { kind: 'device', address: app ?? adv.address });
    }
    const conn = await connect(run, adv.address);
    try {
      const services = await timed(run, 'connect', () => conn.discoverServices(run.signal, run.deviceInfo === undefined ? FIRST_LOOK_DISCOVERY : DFU_DISCOVERY));
      const cap = detectDfu(services);
      run.log.debug({ capability: cap.kind, address: adv.address.value }, 'DFU capability detected');
      const skipped = await firstLook(run, conn, services, cap.kind === 'bootloader');
      if (skipped !== undefined) {
        phase(run, 'connecting', `${adv.address.value} already runs firmware revision "${skipped.firmwareRevision}": not updating it`);
        await safeDisconnect(conn);
        return skipped;
      }
      switch (cap.kind) {
        case 'bootloader':
          if (options.buttonless === 'required') run.log.info('the device is already in DFU mode: no buttonless entry needed');
          run.bootloaderAddress = adv.address;
          run.bootloaderName = adv.name;
          run.bootloader = { kind: 'address', address: adv.address };
          // The application usually lives at the bootloader address − 1 (spec §4.2); checked at the end.
          run.startedInBootloader = true;
          run.appAddress = adv.address;
          run.rememberedApp = (entry ?? remembered.find((e) => e.bootloaderAddress.value === adv.address.value))?.appAddress;
          emit(run, { kind: 'bootloader', address: adv.address, name: adv.name });
          run.ctx.devices?.remember(bootloaderFacts(target, adv, sighting));
          if (unconfirmedEntry) {
            phase(run, 'entering-bootloader', `found the device in its bootloader at ${adv.address.value}${adv.name === undefined ? '' : ` as "${adv.name}"`}: the entry took effect although its answer was lost`);
          } else {
            phase(run, 'connecting', foundInBootloaderText(target, adv, sighting, remembered));
          }
          return { kind: 'reached', conn, link: await openLink(run, conn, cap.controlPoint, cap.packet) };
        case 'buttonless': {
          const appName = adv.name ?? (target.kind === 'name' ? target.name : undefined);
          const jump = await jumpToBootloader(run, conn, adv.address, cap, { nameTheBootloader, appName, why: `asking the application at ${adv.address.value} to enter its bootloader` });
          if (jump.kind === 'reset-on-name') {
            nameTheBootloader = false;
            match = { kind: 'address', address: adv.address };
            classify = () => ({ kind: 'target' });
            resetting = true;
            await pause(run, 'reboot');
            continue;
          }
          if (jump.kind === 'uncertain') {
            // The answer was lost (or the link went first): the device is in its bootloader, or
            // still in its application. Look for both; the loop resumes in the one, asks the other again.
            phase(run, 'entering-bootloader', `${jump.detail}; looking for the device in its bootloader and in its application`);
            const appTarget: DfuTarget = { kind: 'address', address: adv.address };
            const either = targetOrBootloader(appTarget, run.ctx.devices?.recall(appTarget) ?? []);
            match = either.match;
            classify = either.classify;
            unconfirmedEntry = true;
            resetting = true;
            await pause(run, 'reboot');
            continue;
          }
          return { kind: 'reached', ...jump.reached };
        }
        case 'experimental':
        case 'legacy':
        case 'none': {
          const what =
            cap.kind === 'legacy'
              ? 'speaks legacy DFU (service 1530: an nRF5 SDK ≤ 11 or Adafruit nRF52 bootloader or its application), not Secure DFU, which this package is for'
              : cap.kind === 'experimental'
                ? 'offers only the SDK 12 experimental buttonless service, which is not enabled'
                : 'has neither a Secure DFU bootloader nor a buttonless DFU service';
          const mode = options.buttonless === 'required' ? ' (buttonless entry is required)' : '';
          throw serviceMissing(
            `${adv.address.value} ${what}${mode}; found: ${describeServices(services)}`,
            cap.kind === 'legacy'
              ? 'send a legacy DFU package made for this device (nrfutil ≤ 0.5 or adafruit-nrfutil dfu genpkg): bledfu updates legacy bootloaders with it; or flash a Secure DFU bootloader first'
              : 'check that this is the device to update; if it is, put it into DFU mode by hand (usually a button held at reset) and retry',
          );
        }
      }
    } catch (e) {
      await safeDisconnect(conn);
      if (run.signal.aborted || !isLinkFailure(e)) throw e;
      if (lostLinks >= options.retries) throw gaveUp(e, lostLinks);
      lostLinks++;
      const err = isBledfuError(e) ? e : undefined;
      run.log.warn({ code: err?.code, reconnect: lostLinks, of: options.retries }, `link failure before the transfer: ${err?.message ?? String(e)}`);
      phase(run, 'connecting', `the link to ${adv.address.value} failed (${err?.code ?? 'error'}); looking for the device again`);
      await pause(run, 'scan');
    }
  }
}

type ButtonlessCapability = Extract<DfuCapability, { kind: 'buttonless' }>;

/** How a buttonless entry went; the caller decides where to look next. */
type Jump =
  | { readonly kind: 'reached'; readonly reached: { conn: Connection; link: BootloaderLink } }
  /** The application reset on the set-name request (spec §4.1 step 3): find it again and ask without a name. */
  | { readonly kind: 'reset-on-name' }
  /** The answer never came (or the link went first): the device may be in either mode. */
  | { readonly kind: 'uncertain'; readonly detail: string };

/**
 * Asks the application on `conn` to enter its bootloader through its buttonless service and,
 * once it confirmed, connects to the bootloader. Where the device was sent is remembered before
 * looking for it, so a retry finds it even if this job ends first.
 */
async function jumpToBootloader(
  run: Run,
  conn: Connection,
  address: DeviceAddress,
  cap: ButtonlessCapability,
  ask: { readonly nameTheBootloader: boolean; readonly appName: string | undefined; readonly why: string },
): Promise<Jump> {
  const { options } = run;
  if (options.buttonless === 'off') {
    throw serviceMissing(
      `${address.value} is running its application, not the DFU bootloader: it offers buttonless DFU (${cap.bonded ? 'with' : 'without'} bonds), but buttonless entry is switched off (--buttonless off)`,
      'let bledfu ask the application to enter its bootloader (--buttonless auto), or put the device into DFU mode by hand (usually a button held at reset) and retry',
    );
  }
  if (++run.buttonlessEntries > MAX_BUTTONLESS_ENTRIES) {
    throw buttonlessFailed(
      `the application at ${address.value} was asked ${MAX_BUTTONLESS_ENTRIES} times to enter its bootloader, but is still running (its answers were lost, or it does not hand over)`,
      'restart the device and retry; if it persists, put it into DFU mode by hand (usually a button held at reset)',
    );
  }
  phase(run, 'entering-bootloader', `${ask.why}${run.buttonlessEntries > 1 ? ` (attempt ${run.buttonlessEntries})` : ''}`);
  run.appAddress = address;
  const askedName = cap.bonded || !ask.nameTheBootloader ? undefined : randomBootloaderName(run.clock.random);
  const entered = await timed(run, 'buttonless', () =>
    enterBootloader(conn, cap.characteristic, {
      bonded: cap.bonded,
      bootloaderName: askedName,
      timeoutMs: options.requestTimeoutMs,
      signal: run.signal,
      clock: run.clock,
      logger: run.log,
    }),
  );
  if (entered.outcome === 'reset-on-name') {
    run.log.warn({ address: address.value }, 'the application reset when asked to name its bootloader; reconnecting to it to enter without a name (the bootloader will advertise "DfuTarg")');
    return { kind: 'reset-on-name' };
  }
  // Remembered before looking: if this job ends before the bootloader is found, a retry still
  // knows the name it was given (or, unanswered, may have been given).
  const expected = cap.bonded ? address : bootloaderAddress(address);
  const givenName = entered.outcome === 'entered' ? entered.bootloaderName : askedName;
  run.ctx.devices?.remember({ appAddress: address, appName: ask.appName, bootloaderAddress: expected, bootloaderName: givenName });
  run.bootloader = bootloaderMatch(address, givenName);
  if (entered.outcome === 'unanswered' || !entered.confirmed) {
    return {
      kind: 'uncertain',
      detail: `the application at ${address.value} ${entered.outcome === 'unanswered' ? 'did not answer the request to enter its bootloader' : 'dropped the link before answering'}`,
    };
  }
  // Confirmed means the application answered and then dropped the link: it has reset, so nothing
  // but its bootloader can answer the look from now on, and no pause is needed before it.
  const reached = await reconnectBootloader(run, 'after the buttonless jump', 'reboot', { pause: false });
  if (run.bootloaderAddress !== undefined) {
    run.ctx.devices?.remember({ appAddress: address, appName: ask.appName, bootloaderAddress: run.bootloaderAddress, bootloaderName: run.bootloaderName });
  }
  return { kind: 'reached', reached };
}

async function openLink(run: Run, conn: Connection, cp: import('../../ble/types.js').GattCharacteristic, dp: import('../../ble/types.js').GattCharacteristic): Promise<BootloaderLink> {
  return timed(run, 'connect', () =>
    BootloaderLink.open(conn, cp, dp, {
      requestTimeoutMs: run.options.requestTimeoutMs,
      packetSize: packetSizeForMtu(conn.mtu),
      signal: run.signal,
      clock: run.clock,
      logger: run.log,
    }),
  );
}

/**
 * Scans for the bootloader (after a jump, a reset or a link loss) and opens a link to it. `looking`
 * says where the time until it is found goes: 'reboot' when the device is resetting. The pause
 * (options.rebootDelayMs) first, unless the caller knows the device is already gone from where
 * the look could mistake it.
 */
async function reconnectBootloader(
  run: Run,
  why: string,
  looking: 'reboot' | 'scan',
  how: { readonly pause: boolean } = { pause: true },
): Promise<{ conn: Connection; link: BootloaderLink }> {
  if (how.pause) await pause(run, looking);
  let adv: Advertisement;
  try {
    adv = await timed(run, looking, () => findDevice(run.adapter, run.bootloader, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
  } catch (e) {
    throw wrapNotFound(e, 'bootloader', why);
  }
  run.bootloaderAddress = adv.address;
  run.bootloaderName = adv.name;
  run.bootloader = { kind: 'address', address: adv.address };
  emit(run, { kind: 'bootloader', address: adv.address, name: adv.name });
  run.log.debug({ address: adv.address.value, why }, 'bootloader found');
  const conn = await connect(run, adv.address);
  try {
    const services = await timed(run, 'connect', () => conn.discoverServices(run.signal, BOOTLOADER_DISCOVERY));
    const cp = findCharacteristic(services, UUIDS.secureDfuService, UUIDS.dfuControlPoint);
    const dp = findCharacteristic(services, UUIDS.secureDfuService, UUIDS.dfuPacket);
    if (cp === undefined || dp === undefined) {
      throw serviceMissing(`${adv.address.value} advertises like a bootloader but has no DFU control point/packet characteristics`, 'retry; if it persists, restart the device');
    }
    return { conn, link: await openLink(run, conn, cp, dp) };
  } catch (e) {
    await safeDisconnect(conn);
    throw e;
  }
}

interface ImageProgress {
  readonly index: number;
  readonly image: PackageImage;
  readonly before: number;
  /** What the device held of the image when this run first came to its data (DfuProgress.imageBytesAtStart). */
  atStart: number | undefined;
  /** The last progress reported for the image: a PRN, the CRC check and the Execute of one object all confirm the same bytes. */
  reported?: number;
  /**
   * Set once the image's final Execute was sent on the current link: the bootloader may have
   * validated and activated the image, so after a link loss the device is looked for in its
   * application too (lookAfterFinalExecute), not only in its bootloader.
   */
  finalExecuteSent?: boolean;
}

/** Reports the image's confirmed bytes, once per new value. */
function progress(run: Run, p: ImageProgress, sent: number): void {
  if (p.reported === sent) return;
  p.reported = sent;
  emit(run, {
    kind: 'progress',
    imageIndex: p.index,
    imageCount: run.pkg.images.length,
    imageKind: p.image.summary.kind,
    imageBytesSent: sent,
    imageBytesTotal: p.image.bin.length,
    imageBytesAtStart: p.atStart ?? 0,
    totalBytesSent: p.before + sent,
    totalBytesTotal: run.totalBytes,
  });
}

/**
 * After a loss, a PRN after every packet (as the Android library does): the device then confirms
 * each write, so the host stack cannot run ahead of it again. Kept for the rest of the run.
 */
async function lowerPrnAfterLoss(run: Run, link: BootloaderLink, step: StepContext): Promise<void> {
  if (run.prn === 1) return;
  run.log.warn({ from: run.prn, to: 1 }, 'data was lost in the host stack: packet receipt notification after every packet from now on');
  await link.expect({ op: 'setPrn', interval: 1 }, step);
  run.prn = 1;
}

/**
 * Whether an init packet's refusal means "already up to date": the bootloader checked the image's
 * fw_version against the version it holds and found it not newer (FW_VERSION_FAILURE, spec §2.4:
 * an application lower than the stored one, or equal with NRF_DFU_APP_ACCEPT_SAME_VERSION=0; a
 * bootloader not higher). Only for a package of one image: in a multi-image package the other
 * images may still be newer (spec §3.7), so a refusal there stays a failure. Every other refusal
 * (hardware, SoftDevice, signature, …) is a failure too.
 */
function refusedAsNotNewer(run: Run, p: ImageProgress, res: ControlPointResponse): boolean {
  return res.kind === 'extendedError' && res.extended === EXT_ERROR.FW_VERSION_FAILURE && run.pkg.images.length === 1 && p.index === 0;
}

/**
 * One pass over an image on one link; resumes from whatever the bootloader holds. Returns 'sent'
 * when the final Execute succeeded, 'not-newer' when the bootloader refused the init packet as not
 * newer than what it holds (refusedAsNotNewer) and nothing of the image was sent.
 */
async function transferImage(run: Run, link: BootloaderLink, p: ImageProgress, resume: boolean, announced: { current: Announced | undefined }): Promise<'sent' | 'not-newer'> {
  const { options, log } = run;
  const { dat, bin, summary } = p.image;
  const step = (what: string): StepContext => ({ what: `${what} of the ${summary.kind} image`, image: summary });
  // The caller runs this in a phase of its own (sendImage), which comes back after a throw.
  run.phases.enter('initPacket');

  // --- command object (spec §3.2)
  const sel = await link.expect({ op: 'select', objectType: OBJECT_TYPE.COMMAND }, step('Select command object'));
  if (sel.kind !== 'select') throw remoteError(sel, step('Select command object'));
  if (dat.length > sel.maxSize) {
    throw new BledfuError('PACKAGE_TOO_LARGE', `init packet of the ${summary.kind} image is ${dat.length} bytes; this bootloader takes at most ${sel.maxSize}`, {
      layer: 'dfu',
      remedy: 'regenerate the package without optional fields (e.g. fewer sd_req or boot_validation entries) or update the bootloader',
    });
  }
  let plan = planCommand(dat, sel, resume);
  const datPrefix = new PrefixCrc(dat);
  for (let attempt = 1; ; attempt++) {
    log.debug({ object: 'command', plan: plan.action, offset: sel.offset }, 'command object');
    if (plan.action === 'create') {
      await link.expect({ op: 'setPrn', interval: 0 }, step('Set PRN'));
      await link.expect({ op: 'create', objectType: OBJECT_TYPE.COMMAND, size: dat.length }, step('Create command object'));
      announced.current = { type: 'command', start: 0, end: dat.length, sent: 0 };
    }
    if (plan.action !== 'execute') {
      const from = plan.action === 'continue' ? plan.offset : 0;
      await link.stream(dat, from, dat.length, 0, datPrefix, () => undefined);
      const crc = await link.checksum(dat.length, step('CRC of the init packet'));
      const v = judgeChecksum(datPrefix, crc, dat.length);
      if (!v.ok) {
        const detail = v.reason === 'mismatch' ? v.detail : `only ${v.offset} of ${dat.length} bytes arrived`;
        log.warn({ attempt, detail }, 'init packet CRC mismatch');
        if (attempt > options.retries) throw dfuCrcMismatch(`init packet of the ${summary.kind} image did not arrive intact after ${attemptsText(attempt)}: ${detail}`);
        plan = { action: 'create' };
        continue;
      }
    }
    break;
  }
  const executed = await link.request({ op: 'execute' }, undefined, step('init packet (Execute)'));
  announced.current = undefined;
  if (executed.kind === 'error' || executed.kind === 'extendedError') {
    if (refusedAsNotNewer(run, p, executed)) {
      log.info({ image: summary.kind, fwVersion: summary.fwVersion }, 'the bootloader refused the image as not newer than its own (FW_VERSION_FAILURE): the device is up to date');
      return 'not-newer';
    }
    throw remoteError(executed, step('init packet (Execute)'));
  }
  log.debug({ object: 'command' }, 'init packet executed');

  // --- data objects (spec §3.3): streaming (and the wait for an object's last PRN) counts as data
  // transfer, the per-object round trips (Create, CRC, Execute) as flash waits, the final Execute
  // as activation (dfu/phases.ts).
  run.phases.enter('dataTransfer');
  const dsel = await link.expect({ op: 'select', objectType: OBJECT_TYPE.DATA }, step('Select data object'));
  if (dsel.kind !== 'select') throw remoteError(dsel, step('Select data object'));
  const maxSize = dsel.maxSize;
  if (maxSize <= 0) throw dfuProtocolError(`Select data object reported max size ${maxSize}`);
  // Without a PRN asked for (flow control paces the packets), the device still notifies at every
  // full object's last packet: that PRN is the object's CRC answer (dfu/secure/objects.ts
  // objectEndPrn), so no CRC round trip is left between the last packet and the Execute.
  const endPrn = objectEndPrn(maxSize, link.packetSize);
  await link.expect({ op: 'setPrn', interval: run.prn > 0 ? run.prn : endPrn }, step('Set PRN'));
  // The PRN interval the stream paces by: the caller's, or the object-end PRN while it comes in time.
  const streamPrn = (): number => (run.prn > 0 ? run.prn : run.awaitObjectEndPrn ? endPrn : 0);
  const prefix = new PrefixCrc(bin);
  const confirmed = (offset: number): void => {
    if (announced.current !== undefined) announced.current.sent = offset;
    progress(run, p, offset);
  };
  const execute = async (start: number, end: number, tolerateNotPermitted: boolean): Promise<void> => {
    const last = end === bin.length;
    const what = step(last ? 'the image (final Execute)' : `data object ${start}–${end} (Execute)`);
    if (last) {
      // A cancel before the final Execute leaves the device as it is; once it is sent, its answer
      // says whether the device is updated, so the wait for it is not cut short (link.finish).
      if (run.signal.aborted) throw abortReason(run.signal);
      p.finalExecuteSent = true;
    }
    const res = await timed(run, last ? 'activation' : 'flashWait', () => (last ? link.finish({ op: 'execute' }, what) : link.request({ op: 'execute' }, undefined, what)));
    const ok = res.kind === 'success' || (tolerateNotPermitted && res.kind === 'error' && res.result === RESULT.OPERATION_NOT_PERMITTED);
    if (!ok) throw remoteError(res, what);
    if (res.kind !== 'success') log.debug({ offset: end }, 'boundary re-Execute answered 0x08: the object was already executed');
    announced.current = undefined;
    log.debug({ object: 'data', start, end, last }, 'data object executed');
    progress(run, p, end);
  };

  let pos = 0;
  const dplan = planData(bin, dsel, resume);
  log.debug({ object: 'data', plan: dplan.action, offset: dsel.offset, crc: dsel.crc, maxSize }, 'data resume plan');
  // Once per run and image: after a reconnect the device holds what this run sent, not an earlier run.
  p.atStart ??= dplan.action === 'create' ? dplan.from : dplan.offset;
  switch (dplan.action) {
    case 'create':
      pos = dplan.from;
      break;
    case 'execute': {
      const start = dplan.offset === bin.length ? objectAt(bin.length - 1, bin.length, maxSize).start : dplan.offset - maxSize;
      await execute(start, dplan.offset, true);
      pos = dplan.offset;
      break;
    }
    case 'continue': {
      const obj = dplan.object;
      announced.current = { type: 'data', start: obj.start, end: obj.end, sent: dplan.offset };
      prefix.advanceTo(dplan.offset);
      const r = await link.stream(bin, dplan.offset, obj.end, streamPrn(), prefix, confirmed);
      const crc = await timed(run, 'flashWait', () => link.checksum(obj.end, step('CRC')));
      if (r.ok && judgeChecksum(prefix, crc, obj.end).ok) {
        await execute(obj.start, obj.end, false);
        pos = obj.end;
      } else {
        log.warn({ start: obj.start, end: obj.end }, 'resumed object did not check out; sending it again');
        pos = obj.start;
      }
      break;
    }
  }

  while (pos < bin.length) {
    const end = Math.min(bin.length, pos + maxSize);
    for (let attempt = 1; ; attempt++) {
      await timed(run, 'flashWait', () => link.expect({ op: 'create', objectType: OBJECT_TYPE.DATA, size: end - pos }, step(`Create data object ${pos}–${end}`)));
      announced.current = { type: 'data', start: pos, end, sent: pos };
      log.debug({ object: 'data', start: pos, end, attempt }, 'data object created');
      let from = pos;
      let verdict: string | undefined;
      // Bytes lost inside the host stack (spec §3.3 step 5): while the device reports fewer bytes
      // than were sent but the CRC of what it holds is right, continue from there inside the same
      // object. Each pass must get further, so this ends within the object. A stream cut short
      // by an overdue PRN (r.sent < end) lands here too: the CRC answer says whether a packet
      // was lost or the PRN was only late.
      for (;;) {
        let stale: string | undefined;
        const r = await link.stream(bin, from, end, streamPrn(), prefix, confirmed);
        // A valid PRN at the object's last byte answers what the CRC request would (spec §2.5).
        if (r.ok && r.confirmed === end) {
          verdict = undefined;
          break;
        }
        // The stream waited for the object-end PRN and it did not come: lost data, or only late.
        const endPrnMissed = r.ok && run.prn === 0 && run.awaitObjectEndPrn && from === pos && end - pos === maxSize;
        const crc = await timed(run, 'flashWait', () =>
          link.checksum(r.ok ? r.sent : end, step('CRC'), (late) => {
            const lv = judgeChecksum(prefix, late, late.offset);
            if (!lv.ok && lv.reason === 'mismatch') stale ??= `PRN: ${lv.detail}`;
          }),
        );
        const v = judgeChecksum(prefix, crc, end, pos);
        if (endPrnMissed && v.ok) {
          // Everything arrived, so the PRN was only late: ask for the CRC from now on (which still
          // takes a late PRN as the answer when that comes first, BootloaderLink.checksum).
          log.debug({ start: pos, end }, 'the PRN at the end of the object did not come in time: asking for the CRC after every object from now on');
          run.awaitObjectEndPrn = false;
        }
        if (!r.ok) verdict = r.detail;
        else if (stale !== undefined) verdict = stale;
        else if (v.ok) verdict = undefined;
        else if (v.reason === 'short' && v.offset > from) {
          from = v.offset;
          if (v.offset < r.sent) {
            log.warn({ reported: v.offset, sent: r.sent }, 'bytes lost on the way; continuing from the reported offset');
            await lowerPrnAfterLoss(run, link, step('Set PRN'));
          } else {
            // Everything sent arrived: only the PRN was late (or the device counts from elsewhere, §3.6).
            log.debug({ offset: v.offset }, 'the device holds all that was sent; its PRN was late');
          }
          continue;
        } else verdict = v.reason === 'mismatch' ? v.detail : `only ${v.offset} of ${end} bytes arrived`;
        break;
      }
      if (verdict === undefined) break;
      log.warn({ start: pos, end, attempt, detail: verdict }, 'data object CRC mismatch');
      if (attempt > options.retries) {
        throw dfuCrcMismatch(`data object ${pos}–${end} of the ${summary.kind} image did not arrive intact after ${attemptsText(attempt)}: ${verdict}`, {
          image: summary.kind,
        });
      }
    }
    progress(run, p, end);
    await execute(pos, end, false);
    pos = end;
  }
  return 'sent';
}

/**
 * After the final Execute the device resets without an LL terminate (spec §3.5), so the link would
 * only drop at the supervision timeout (up to 6 s). Hang up at once, as nrfutil does. After the
 * last image nothing else needs this link, so its teardown finishes in the background; between
 * images it is awaited, because the next image goes to the same bootloader address and
 * controllers refuse a second link to a peer they still think is connected.
 */
async function hangUpAfterActivation(run: Run, conn: Connection, lastImage: boolean): Promise<void> {
  return timed(run, 'activation', () => hangUp(run, conn, lastImage));
}

async function hangUp(run: Run, conn: Connection, lastImage: boolean): Promise<void> {
  if (lastImage) {
    phase(
      run,
      'activating',
      endsInDfuMode(run.pkg)
        ? 'waiting for the device to activate the new firmware; without an application image in the package, it stays in its bootloader (DFU mode)'
        : 'waiting for the device to start the new firmware',
    );
    void conn.disconnect().catch((e: unknown) => run.log.debug({ err: e }, 'disconnect after the final Execute'));
    // No cancel check here: the device has accepted the whole package and is activating it, so
    // from now on the update has happened whatever the caller does.
    return;
  }
  await safeDisconnect(conn);
  if (run.signal.aborted) throw abortReason(run.signal);
}

/** The last link failure, same code and facts, saying that the reconnects were used up. */
function gaveUp(e: unknown, reconnects: number): unknown {
  if (!isBledfuError(e) || reconnects === 0) return e;
  return new BledfuError(e.code, `${e.message} (gave up after ${reconnects} reconnect${reconnects === 1 ? '' : 's'})`, {
    layer: e.layer,
    facts: e.facts,
    cause: e,
    ...(e.remedy === undefined ? {} : { remedy: e.remedy }),
  });
}

/** "1 attempt (no retries asked for)", "3 attempts". */
function attemptsText(attempts: number): string {
  return attempts === 1 ? '1 attempt (no retries asked for)' : `${attempts} attempts`;
}

/**
 * Sends one image, reconnecting and resuming after link losses (up to options.retries times).
 * Returns 'not-newer' when the device refused it as not newer (refusedAsNotNewer), after sending
 * the bootloader an Abort so that it resets into the application it keeps.
 */
async function sendImage(run: Run, first: { conn: Connection; link: BootloaderLink } | undefined, p: ImageProgress): Promise<'sent' | 'not-newer'> {
  const { options, log } = run;
  let current = first;
  const announced: { current: Announced | undefined } = { current: undefined };
  for (let reconnects = 0; ; ) {
    try {
      current ??= p.index === 0 ? await reconnectBootloader(run, `for the ${p.image.summary.kind} image`, 'scan') : await reachBootloaderForNextImage(run, p);
      phase(run, reconnects === 0 ? 'transferring' : 'resuming', `sending the ${p.image.summary.kind} image (${p.index + 1}/${run.pkg.images.length}, ${p.image.bin.length} bytes) to ${current.conn.address.value}`);
      const link = current.link;
      const sent = await timed(run, 'initPacket', () => transferImage(run, link, p, !options.disableResume, announced));
      if (sent === 'not-newer') {
        await leaveBootloader(run, current);
        return sent;
      }
      current.link.close();
      await hangUpAfterActivation(run, current.conn, p.index === run.pkg.images.length - 1);
      return sent;
    } catch (e) {
      current?.link.close();
      await safeDisconnect(current?.conn);
      if (run.signal.aborted) {
        const a = announced.current;
        if (a !== undefined) {
          log.warn(
            { object: a.type, start: a.start, end: a.end, confirmed: a.sent },
            `cancelled with the ${a.type} object ${a.start}–${a.end} created but not executed; the bootloader discards it on the next Create (or resumes it)`,
          );
        }
        throw abortReason(run.signal);
      }
      if (!isLinkFailure(e)) throw e;
      const err = isBledfuError(e) ? e : undefined;
      if (p.finalExecuteSent === true) {
        p.finalExecuteSent = false;
        log.warn({ code: err?.code }, `link failure after the final Execute of the ${p.image.summary.kind} image: ${err?.message ?? String(e)}; looking for the device in its bootloader and in its application`);
        const back = await lookAfterFinalExecute(run, p, e, reconnects);
        if (back.kind === 'application') {
          if (p.index === run.pkg.images.length - 1) run.activatedUnseen = back.end;
          return 'sent';
        }
        reconnects++;
        current = back.reached;
        continue;
      }
      if (reconnects >= options.retries) throw gaveUp(e, reconnects);
      reconnects++;
      log.warn({ code: err?.code, reconnect: reconnects, of: options.retries }, `link failure during the ${p.image.summary.kind} image: ${err?.message ?? String(e)}`);
      current = undefined;
    }
  }
}

/**
 * After a refusal as not newer the device would sit in DFU mode until its inactivity timeout
 * (minutes): a production line wants it back in its application at once. Abort (SDK 15+, spec
 * §2.1) makes the bootloader reset, and with its valid application untouched it starts that. The
 * answer may never come (the device resets first), so any failure here is only logged; the look
 * for the device afterwards (findUpdatedDevice) says where it really is.
 */
async function leaveBootloader(run: Run, at: { conn: Connection; link: BootloaderLink }): Promise<void> {
  phase(run, 'activating', 'the device already holds this version or a newer one: asking its bootloader to return to the application (Abort)');
  try {
    await timed(run, 'activation', () => at.link.request({ op: 'abort' }));
  } catch (e) {
    if (run.signal.aborted) throw abortReason(run.signal);
    run.log.debug({ err: isBledfuError(e) ? e.message : String(e) }, 'no answer to Abort (the bootloader may have reset first)');
  }
  at.link.close();
  await timed(run, 'activation', () => safeDisconnect(at.conn));
  if (run.signal.aborted) throw abortReason(run.signal);
}

/** The address the application would have if `bl` is a no-bonds bootloader (last octet − 1, wrapping). */
function appAddressBelow(bl: DeviceAddress): DeviceAddress {
  return offsetLastOctet(bl, -1);
}

/**
 * Whether the package can leave the device in its bootloader: it has no application image but a
 * SoftDevice. After a SoftDevice an SDK 15–17 bootloader stays in DFU mode
 * (nrf_bootloader_fw_activation.c: ACTIVATION_SUCCESS_EXPECT_ADDITIONAL_UPDATE), for good when
 * the application was invalidated (a new SoftDevice major version), else for
 * NRF_BL_DFU_CONTINUATION_TIMEOUT_MS (10 s) before it starts the old application again.
 */
function endsInDfuMode(pkg: DfuPackage): boolean {
  const kinds = pkg.images.map((i) => i.summary.kind);
  return !kinds.includes('application') && (kinds.includes('softdevice') || kinds.includes('softdevice_bootloader'));
}

/** Addresses the application may come back at (the bootloader's − 1 when the run started in it, spec §4.2). */
function appCandidates(run: Run): string[] {
  const app = run.appAddress;
  if (app === undefined) return [];
  if (!run.startedInBootloader) return [app.value];
  return [...new Set([app.value, ...(run.rememberedApp === undefined ? [] : [run.rememberedApp.value]), appAddressBelow(app).value])];
}

const FE59 = normalizeUuid(UUIDS.secureDfuService);

/** The bootloader as this run last knew it, advertising the Secure DFU service. */
function isOurBootloader(run: Run, adv: Advertisement): boolean {
  return matches(run.bootloader, adv) && adv.serviceUuids.some((u) => normalizeUuid(u) === FE59);
}

function wrapNotFound(e: unknown, what: 'device' | 'bootloader', why: string): unknown {
  if (!hasCode(e, 'DEVICE_NOT_FOUND')) return e;
  return new BledfuError('DEVICE_NOT_FOUND', `${what} not found ${why}: ${e.message}`, {
    layer: 'dfu',
    remedy: 'the device may need longer to restart, or it whitelists another central (bonded bootloader); retry, or put it into DFU mode by hand',
    facts: e.facts,
    cause: e,
  });
}

/**
 * Before the second and later images (spec §3.7) the device has activated the previous image and
 * reset. After a SoftDevice it waits in its bootloader, but after a bootloader-only image an
 * SDK 15–17 bootloader starts the still valid application (ACTIVATION_SUCCESS): like Nordic's
 * Android and iOS libraries, ask that application through its buttonless service to enter DFU
 * mode again. One scan finds the device either way; after a link loss inside a later image the
 * same search finds the bootloader that kept the progress.
 */
async function reachBootloaderForNextImage(run: Run, p: ImageProgress): Promise<{ conn: Connection; link: BootloaderLink }> {
  const prev = run.pkg.images[p.index - 1]?.summary.kind ?? 'previous';
  const next = p.image.summary.kind;
  const apps = appCandidates(run);
  const anywhere: DeviceMatch = {
    kind: 'predicate',
    description: `the device in its bootloader (${describeMatch(run.bootloader)})${apps.length === 0 ? '' : ` or its application (at ${apps.join(' or ')})`}`,
    test: (a) => matches(run.bootloader, a) || apps.includes(a.address.value),
  };
  let nameTheBootloader = true;
  for (;;) {
    await pause(run, 'reboot');
    let adv: Advertisement;
    try {
      adv = await timed(run, 'reboot', () => findDevice(run.adapter, anywhere, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
    } catch (e) {
      throw wrapNotFound(e, 'device', `for the ${next} image after the ${prev} image was activated`);
    }
    const conn = await connect(run, adv.address);
    try {
      const services = await timed(run, 'connect', () => conn.discoverServices(run.signal, DFU_DISCOVERY));
      const cap = detectDfu(services);
      switch (cap.kind) {
        case 'bootloader':
          run.log.info({ address: adv.address.value }, `the device is in its bootloader for the ${next} image`);
          run.bootloaderAddress = adv.address;
          run.bootloader = { kind: 'address', address: adv.address };
          return { conn, link: await openLink(run, conn, cap.controlPoint, cap.packet) };
        case 'buttonless': {
          const why = `the bootloader started the application after activating the ${prev} image; asking it to enter DFU mode again for the ${next} image`;
          const jump = await jumpToBootloader(run, conn, adv.address, cap, { nameTheBootloader, appName: adv.name, why });
          if (jump.kind === 'reached') return jump.reached;
          // Reset on the name: ask again without one. Unanswered: it is in one mode or the other,
          // which the next look finds (run.bootloader now knows the name it may have taken).
          if (jump.kind === 'reset-on-name') nameTheBootloader = false;
          else await safeDisconnect(conn);
          continue;
        }
        default:
          throw serviceMissing(
            `${adv.address.value} came back after the ${prev} image was activated, but offers neither the Secure DFU bootloader nor buttonless DFU for the ${next} image; found: ${describeServices(services)}`,
            'put the device into DFU mode by hand (usually a button held at reset) and send the package again',
          );
      }
    } catch (e) {
      await safeDisconnect(conn);
      throw e;
    }
  }
}

/** Where the device was met after a link loss that followed the final Execute (lookAfterFinalExecute). */
type AfterFinalExecute =
  /** In its bootloader: resume there (Select tells whether the image is still pending). */
  | { readonly kind: 'bootloader'; readonly reached: { conn: Connection; link: BootloaderLink } }
  /** In its application: the bootloader validated and activated the image (a failed validation keeps it in DFU mode). */
  | { readonly kind: 'application'; readonly end: EndState };

/** The detail when the device came back in its application after a link loss that followed the final Execute. */
const ACTIVATED_UNSEEN = 'link lost after the final Execute; the device came back in its application: the image was activated';

/**
 * After the link was lost once the final Execute of an image was sent, the bootloader may have
 * got it and activated the image (and reset), or not. Looks for the device wherever it may be:
 * its bootloader (resume: its Select answer says whether the image is still pending) or its
 * application — at the address it was found at, or when the run started in the bootloader at the
 * address the device memory or the SDK rule (bootloader − 1, spec §4.2) gives. An SDK bootloader
 * starts an application quickly only after it activated the new image (a failed validation keeps
 * it in DFU mode), so an application here means the image is installed: resending it would
 * update the device twice. A resume in the bootloader is one of the image's reconnects.
 */
async function lookAfterFinalExecute(run: Run, p: ImageProgress, lost: unknown, reconnects: number): Promise<AfterFinalExecute> {
  const kind = p.image.summary.kind;
  const apps = appCandidates(run);
  const anywhere: DeviceMatch = {
    kind: 'predicate',
    description: `the device in its bootloader (${describeMatch(run.bootloader)})${apps.length === 0 ? '' : ` or its application (at ${apps.join(' or ')})`}`,
    test: (a) => matches(run.bootloader, a) || apps.includes(a.address.value),
  };
  phase(run, 'activating', `the link was lost after the final Execute of the ${kind} image; looking for the device in its bootloader and in its application`);
  await pause(run, 'reboot');
  let adv: Advertisement;
  try {
    adv = await timed(run, 'reboot', () => findDevice(run.adapter, anywhere, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
  } catch (e) {
    throw wrapNotFound(e, 'device', `in its bootloader or its application after the link was lost after the final Execute of the ${kind} image`);
  }
  const conn = await connect(run, adv.address);
  try {
    const services = await timed(run, 'connect', () => conn.discoverServices(run.signal, FINAL_READ_DISCOVERY));
    const cap = detectDfu(services);
    if (cap.kind === 'bootloader') {
      if (reconnects >= run.options.retries) throw gaveUp(lost, reconnects);
      run.log.info({ address: adv.address.value }, `the device is still in its bootloader after the final Execute of the ${kind} image: resuming`);
      run.bootloaderAddress = adv.address;
      run.bootloaderName = adv.name;
      run.bootloader = { kind: 'address', address: adv.address };
      emit(run, { kind: 'bootloader', address: adv.address, name: adv.name });
      return { kind: 'bootloader', reached: { conn, link: await openLink(run, conn, cap.controlPoint, cap.packet) } };
    }
    phase(run, 'activating', ACTIVATED_UNSEEN);
    const end = await readEndState(run, conn, adv.address, services);
    await timed(run, 'finalRead', () => safeDisconnect(conn));
    return { kind: 'application', end };
  } catch (e) {
    await safeDisconnect(conn);
    throw e;
  }
}

/** The application on `conn` as the job reports it: its Firmware Revision String when it has one. */
async function readEndState(run: Run, conn: Connection, address: DeviceAddress, services: readonly GattService[]): Promise<EndState> {
  const ch = findCharacteristic(services, UUIDS.deviceInformationService, UUIDS.firmwareRevision);
  if (ch === undefined) return { address, state: 'application', revision: undefined };
  const value = await timed(run, 'finalRead', () => conn.read(ch.valueHandle, run.signal));
  return { address, state: 'application', revision: new TextDecoder().decode(value).replace(/\0+$/, '') };
}

/**
 * What the job adds when the device came back in its application after a link loss that followed
 * the final Execute: the application was activated, and — when its firmware revision was read
 * before and reads the same now although the package had an application image — that this could
 * not be confirmed. The image is not sent again for that (the application may keep its revision
 * string across versions); the operator decides.
 */
function activatedUnseenNotice(run: Run, end: EndState): string {
  const before = run.deviceInfo?.firmwareRevision;
  const hadApp = run.pkg.images.some((i) => i.summary.kind === 'application');
  if (hadApp && before !== undefined && end.revision === before) {
    return `${ACTIVATED_UNSEEN}, but its firmware revision is still "${before}" as before the update, so the new application cannot be confirmed; the image was not sent again`;
  }
  return ACTIVATED_UNSEEN;
}

/** What the job says when the device stayed in its bootloader after the last image. */
function dfuModeDetail(pkg: DfuPackage, at: DeviceAddress): string {
  if (!endsInDfuMode(pkg)) return `the images were activated, but the device stays in its bootloader (DFU mode) at ${at.value}`;
  const kinds = pkg.images.map((i) => i.summary.kind).join(' and ');
  return `the ${kinds} image${pkg.images.length === 1 ? ' was' : 's were'} activated; the device stays in its bootloader (DFU mode) at ${at.value} without a running application: send an application package next`;
}

/** Where the device ended after the last image, and the Firmware Revision String its application reports. */
interface EndState {
  readonly address: DeviceAddress;
  readonly state: DeviceState;
  readonly revision: string | undefined;
}

/**
 * Looks for the updated device (best effort): its application, or — when the package has no
 * application image (endsInDfuMode) — its bootloader too, so that a device that stays in DFU
 * mode is reported at once instead of waiting for an application that does not come.
 */
async function findUpdatedDevice(run: Run, refused: boolean): Promise<EndState | undefined> {
  const app = run.appAddress;
  const candidates = appCandidates(run);
  // After a refusal the device should be back in its application, but one whose Abort did not
  // take stays in DFU mode: say so rather than wait for an application that does not come.
  const bootloaderToo = endsInDfuMode(run.pkg) || refused;
  if (app === undefined && !bootloaderToo) return undefined;
  const isApp = (a: Advertisement): boolean =>
    candidates.includes(a.address.value) && !(run.startedInBootloader && app !== undefined && a.address.value === app.value && a.serviceUuids.includes(UUIDS.secureDfuService) && a.name === 'DfuTarg');
  let conn: Connection | undefined;
  try {
    await pause(run, 'reboot');
    const updated: DeviceMatch = {
      kind: 'predicate',
      description: `the updated application${candidates.length === 0 ? '' : ` at ${candidates.join(' or ')}`}${bootloaderToo ? ` or its bootloader (${describeMatch(run.bootloader)})` : ''}`,
      test: (a) => isApp(a) || (bootloaderToo && isOurBootloader(run, a)),
    };
    // The device is resetting into its new firmware: the time until it is seen is a reboot wait.
    const adv = await timed(run, 'reboot', () => findDevice(run.adapter, updated, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock }));
    conn = await connect(run, adv.address);
    const c = conn;
    const services = await timed(run, 'connect', () => c.discoverServices(run.signal, FINAL_READ_DISCOVERY));
    if (detectDfu(services).kind === 'bootloader') {
      run.log.info({ address: adv.address.value }, 'the device stays in its bootloader (DFU mode) after the update');
      return { address: adv.address, state: 'dfu-mode', revision: undefined };
    }
    return await readEndState(run, c, adv.address, services);
  } catch (e) {
    // Only reached after the last image was accepted: a cancel now skips the read-back but must
    // not report the update as cancelled — the device has the new firmware.
    if (run.signal.aborted) {
      run.log.info('cancelled after the update completed; not looking for the device');
      run.notice = finalCheckSkipped(run);
      return undefined;
    }
    run.log.info({ err: isBledfuError(e) ? e.message : String(e) }, 'could not find the updated device or read its firmware revision');
    return undefined;
  } finally {
    const c = conn;
    await timed(run, 'finalRead', () => safeDisconnect(c));
  }
}

/**
 * The notice when a cancel (CancelJob, or the server's stop) came after the last image's final
 * Execute succeeded: the device is updated, only the look for it and the read of its firmware
 * revision were cut short, so the job succeeds without a device state.
 */
function finalCheckSkipped(run: Run): string {
  // The reason names who cancelled: a CancelJob request, or the server's stop.
  const reason: unknown = run.signal.reason;
  const why = isBledfuError(reason) ? reason.message : 'job cancelled';
  return `the device accepted the image (final Execute answered); the final check (looking for the device and reading its firmware revision) was skipped: ${why}`;
}

export const runSecureDfu: DfuRunner<DfuPackage> = async (adapter, pkg, target, options, context): Promise<DfuOutcome> => {
  const run: Run = {
    adapter,
    pkg,
    options,
    ctx: context,
    log: context.logger,
    signal: context.signal,
    clock: context.clock,
    totalBytes: pkg.images.reduce((n, i) => n + i.bin.length, 0),
    bootloader: targetMatch(target),
    appAddress: target.kind === 'address' ? target.address : undefined,
    bootloaderAddress: undefined,
    bootloaderName: undefined,
    buttonlessEntries: 0,
    startedInBootloader: false,
    prn: options.prn,
    awaitObjectEndPrn: true,
    phases: context.phases ?? new PhaseClock(() => context.clock.now()),
    deviceInfo: undefined,
    rememberedApp: undefined,
    activatedUnseen: undefined,
    notice: undefined,
  };
  if (pkg.images.length === 0) throw new BledfuError('PACKAGE_INVALID', 'package has no images', { layer: 'package' });
  try {
    const reached = await reachBootloader(run, target);
    if (reached.kind === 'skipped') {
      // Nothing was written to the device: it keeps running the application it was found in.
      return { address: reached.address, firmwareRevision: reached.firmwareRevision, deviceState: 'application', skipped: 'firmware-revision' };
    }
    let before = 0;
    let refused: PackageImage | undefined;
    for (const [index, image] of pkg.images.entries()) {
      const first = index === 0 ? reached : undefined;
      run.log.debug({ image: image.summary.kind, size: image.bin.length, crc32: crc32(image.bin).toString(16) }, 'image');
      if ((await sendImage(run, first, { index, image, before, atStart: undefined })) === 'not-newer') {
        refused = image;
        break;
      }
      before += image.bin.length;
    }
    const unseen = run.activatedUnseen;
    if (unseen !== undefined) run.notice = activatedUnseenNotice(run, unseen);
    const found = unseen ?? (await findUpdatedDevice(run, refused !== undefined));
    if (found?.state === 'dfu-mode') {
      phase(
        run,
        'activating',
        refused === undefined ? dfuModeDetail(pkg, found.address) : `the device is up to date but still in its bootloader (DFU mode) at ${found.address.value}; it starts its application after the bootloader's inactivity timeout`,
      );
    }
    // The application's address when it is known, even if the device ended in its bootloader.
    const address = found?.state === 'application' ? found.address : (run.appAddress ?? found?.address ?? run.bootloaderAddress);
    if (address === undefined) throw new BledfuError('INTERNAL', 'no device address after a DFU', { layer: 'dfu' });
    return {
      address,
      ...(found === undefined ? {} : { deviceState: found.state }),
      ...(found?.revision === undefined ? {} : { firmwareRevision: found.revision }),
      ...(refused === undefined ? {} : { upToDate: { image: refused.summary } }),
      ...(run.notice === undefined ? {} : { notice: run.notice }),
    };
  } catch (e) {
    if (context.signal.aborted) throw abortReason(context.signal);
    throw e;
  }
};
