/**
 * The Secure DFU procedure (spec §3, §4): find the device, jump to the bootloader if needed,
 * send every image of the package with resume and retries, then wait for the new application.
 */
import { offsetLastOctet, type DeviceAddress } from '../../ble/address.js';
import { findDevice, type DeviceMatch } from '../../ble/discovery.js';
import type { Adapter, Advertisement, Connection } from '../../ble/types.js';
import { UUIDS } from '../../ble/uuid.js';
import { abortReason, BledfuError, hasCode, isBledfuError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../common/clock.js';
import { crc32 } from '../../common/crc32.js';
import { describeServices, detectDfu, findCharacteristic } from '../buttonless/detect.js';
import { bootloaderMatch, enterBootloader, randomBootloaderName } from '../buttonless/enter.js';
import { dfuCrcMismatch, dfuProtocolError, serviceMissing } from '../errors.js';
import type { DfuContext, DfuEvent, DfuOptions, DfuOutcome, DfuPackage, DfuRunner, DfuTarget, PackageImage } from '../types.js';
import { OBJECT_TYPE, RESULT } from './controlPoint.js';
import { BootloaderLink, remoteError, type StepContext } from './link.js';
import { judgeChecksum, objectAt, packetSizeForMtu, planCommand, planData, PrefixCrc } from './objects.js';

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
  /** The application's address, when known (for the final check). */
  appAddress: DeviceAddress | undefined;
  /** The address the bootloader was last found at. */
  bootloaderAddress: DeviceAddress | undefined;
  /** The target was already in DFU mode, so the application's address is a guess. */
  startedInBootloader: boolean;
  /**
   * PRN interval in use: options.prn until bytes were lost on the way (spec §3.3 step 5), then 1
   * for the rest of the run, since the host stack evidently drops writes without flow control.
   */
  prn: number;
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

function targetMatch(target: DfuTarget): DeviceMatch {
  return target.kind === 'address' ? { kind: 'address', address: target.address } : { kind: 'name', name: target.name };
}

async function connect(run: Run, address: DeviceAddress): Promise<Connection> {
  return run.adapter.connect(address, { signal: run.signal, mtu: run.options.mtu, timeoutMs: Math.max(run.options.scanTimeoutMs, 5000) });
}

async function safeDisconnect(conn: Connection | undefined): Promise<void> {
  await conn?.disconnect().catch(() => undefined);
}

function isLinkFailure(e: unknown): boolean {
  return hasCode(e, 'LINK_LOST') || hasCode(e, 'CONNECT_FAILED') || hasCode(e, 'DFU_TIMEOUT') || hasCode(e, 'ATT_TIMEOUT');
}

/**
 * Finds the target, and if it runs an application with buttonless DFU, makes it jump.
 * Returns the connection to the bootloader.
 */
async function reachBootloader(run: Run, target: DfuTarget): Promise<{ conn: Connection; link: BootloaderLink }> {
  const { options } = run;
  phase(run, 'connecting', `looking for ${target.kind === 'address' ? target.address.value : `"${target.name}"`}`);
  let match = targetMatch(target);
  // Cleared when the application reset on the set-name request (spec §4.1 step 3): it is then
  // found again at the same address and asked to enter without a name, so this loop runs twice at most.
  let nameTheBootloader = true;
  for (;;) {
    const adv = await findDevice(run.adapter, match, { timeoutMs: options.scanTimeoutMs, signal: run.signal, clock: run.clock });
    if (nameTheBootloader) emit(run, { kind: 'device', address: adv.address });
    const conn = await connect(run, adv.address);
    try {
      const services = await conn.discoverServices(run.signal);
      const cap = detectDfu(services);
      run.log.debug({ capability: cap.kind, address: adv.address.value }, 'DFU capability detected');
      switch (cap.kind) {
        case 'bootloader':
          if (options.buttonless === 'required') run.log.info('the device is already in DFU mode: no buttonless entry needed');
          run.bootloaderAddress = adv.address;
          run.bootloader = { kind: 'address', address: adv.address };
          // The application usually lives at the bootloader address − 1 (spec §4.2); checked at the end.
          run.startedInBootloader = true;
          run.appAddress = adv.address;
          return { conn, link: await openLink(run, conn, cap.controlPoint, cap.packet) };
        case 'buttonless': {
          if (options.buttonless === 'off') {
            throw serviceMissing(
              `${adv.address.value} is running its application, not the DFU bootloader: it offers buttonless DFU (${cap.bonded ? 'with' : 'without'} bonds), but buttonless entry is switched off (--buttonless off)`,
              'let bledfu ask the application to enter its bootloader (--buttonless auto), or put the device into DFU mode by hand (usually a button held at reset) and retry',
            );
          }
          phase(run, 'entering-bootloader', `asking the application at ${adv.address.value} to enter its bootloader`);
          run.appAddress = adv.address;
          const entered = await enterBootloader(conn, cap.characteristic, {
            bonded: cap.bonded,
            bootloaderName: cap.bonded || !nameTheBootloader ? undefined : randomBootloaderName(),
            timeoutMs: options.requestTimeoutMs,
            signal: run.signal,
            clock: run.clock,
            logger: run.log,
          });
          if (entered.outcome === 'reset-on-name') {
            run.log.warn({ address: adv.address.value }, 'the application reset when asked to name its bootloader; reconnecting to it to enter without a name (the bootloader will advertise "DfuTarg")');
            nameTheBootloader = false;
            match = { kind: 'address', address: adv.address };
            await run.clock.sleep(options.rebootDelayMs, run.signal);
            continue;
          }
          run.bootloader = bootloaderMatch(adv.address, entered.bootloaderName);
          return await reconnectBootloader(run, 'after the buttonless jump');
        }
        case 'experimental':
        case 'legacy':
        case 'none': {
          const what =
            cap.kind === 'legacy'
              ? 'offers only legacy DFU (service 1530, nRF5 SDK ≤ 11), which is not supported yet'
              : cap.kind === 'experimental'
                ? 'offers only the SDK 12 experimental buttonless service, which is not enabled'
                : 'has neither a Secure DFU bootloader nor a buttonless DFU service';
          const mode = options.buttonless === 'required' ? ' (buttonless entry is required)' : '';
          throw serviceMissing(
            `${adv.address.value} ${what}${mode}; found: ${describeServices(services)}`,
            cap.kind === 'legacy'
              ? 'update it with a legacy DFU tool (nrfutil ≤ 0.5, nRF Connect), or flash a Secure DFU bootloader first'
              : 'check that this is the device to update; if it is, put it into DFU mode by hand (usually a button held at reset) and retry',
          );
        }
      }
    } catch (e) {
      await safeDisconnect(conn);
      throw e;
    }
  }
}

async function openLink(run: Run, conn: Connection, cp: import('../../ble/types.js').GattCharacteristic, dp: import('../../ble/types.js').GattCharacteristic): Promise<BootloaderLink> {
  return BootloaderLink.open(conn, cp, dp, {
    requestTimeoutMs: run.options.requestTimeoutMs,
    packetSize: packetSizeForMtu(conn.mtu),
    signal: run.signal,
    clock: run.clock,
    logger: run.log,
  });
}

/** Scans for the bootloader (after a jump, a reset or a link loss) and opens a link to it. */
async function reconnectBootloader(run: Run, why: string): Promise<{ conn: Connection; link: BootloaderLink }> {
  await run.clock.sleep(run.options.rebootDelayMs, run.signal);
  let adv: Advertisement;
  try {
    adv = await findDevice(run.adapter, run.bootloader, { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock });
  } catch (e) {
    if (hasCode(e, 'DEVICE_NOT_FOUND')) {
      throw new BledfuError('DEVICE_NOT_FOUND', `bootloader not found ${why}: ${e.message}`, {
        layer: 'dfu',
        remedy: 'the device may need longer to reboot, or it whitelists another central (bonded bootloader); retry, or put it into DFU mode by hand',
        facts: e.facts,
        cause: e,
      });
    }
    throw e;
  }
  run.bootloaderAddress = adv.address;
  run.bootloader = { kind: 'address', address: adv.address };
  run.log.debug({ address: adv.address.value, why }, 'bootloader found');
  const conn = await connect(run, adv.address);
  try {
    const services = await conn.discoverServices(run.signal);
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
}

function progress(run: Run, p: ImageProgress, sent: number): void {
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

/** One pass over an image on one link; resumes from whatever the bootloader holds. Returns when the final Execute succeeded. */
async function transferImage(run: Run, link: BootloaderLink, p: ImageProgress, resume: boolean, announced: { current: Announced | undefined }): Promise<void> {
  const { options, log } = run;
  const { dat, bin, summary } = p.image;
  const step = (what: string): StepContext => ({ what: `${what} of the ${summary.kind} image`, image: summary });

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
        if (attempt >= options.retries) throw dfuCrcMismatch(`init packet of the ${summary.kind} image did not arrive intact after ${attempt} attempts: ${detail}`);
        plan = { action: 'create' };
        continue;
      }
    }
    break;
  }
  await link.expect({ op: 'execute' }, step('init packet (Execute)'));
  announced.current = undefined;
  log.debug({ object: 'command' }, 'init packet executed');

  // --- data objects (spec §3.3)
  await link.expect({ op: 'setPrn', interval: run.prn }, step('Set PRN'));
  const dsel = await link.expect({ op: 'select', objectType: OBJECT_TYPE.DATA }, step('Select data object'));
  if (dsel.kind !== 'select') throw remoteError(dsel, step('Select data object'));
  const maxSize = dsel.maxSize;
  if (maxSize <= 0) throw dfuProtocolError(`Select data object reported max size ${maxSize}`);
  const prefix = new PrefixCrc(bin);
  const confirmed = (offset: number): void => {
    if (announced.current !== undefined) announced.current.sent = offset;
    progress(run, p, offset);
  };
  const execute = async (start: number, end: number, tolerateNotPermitted: boolean): Promise<void> => {
    const last = end === bin.length;
    const what = step(last ? 'the image (final Execute)' : `data object ${start}–${end} (Execute)`);
    const res = await link.request({ op: 'execute' }, undefined, what);
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
      const r = await link.stream(bin, dplan.offset, obj.end, run.prn, prefix, confirmed);
      const crc = await link.checksum(obj.end, step('CRC'));
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
      await link.expect({ op: 'create', objectType: OBJECT_TYPE.DATA, size: end - pos }, step(`Create data object ${pos}–${end}`));
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
        const r = await link.stream(bin, from, end, run.prn, prefix, confirmed);
        const crc = await link.checksum(r.ok ? r.sent : end, step('CRC'), (late) => {
          const lv = judgeChecksum(prefix, late, late.offset);
          if (!lv.ok && lv.reason === 'mismatch') stale ??= `PRN: ${lv.detail}`;
        });
        const v = judgeChecksum(prefix, crc, end, pos);
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
      if (attempt >= options.retries) {
        throw dfuCrcMismatch(`data object ${pos}–${end} of the ${summary.kind} image did not arrive intact after ${attempt} attempts: ${verdict}`, {
          image: summary.kind,
        });
      }
    }
    progress(run, p, end);
    await execute(pos, end, false);
    pos = end;
  }
}

/**
 * After the final Execute the device resets without an LL terminate (spec §3.5), so the link would
 * only drop at the supervision timeout (up to 6 s). Hang up at once, as nrfutil does. After the
 * last image nothing else needs this link, so its teardown finishes in the background; between
 * images it is awaited, because the next image goes to the same bootloader address and
 * controllers refuse a second link to a peer they still think is connected.
 */
async function hangUpAfterActivation(run: Run, conn: Connection, lastImage: boolean): Promise<void> {
  if (lastImage) {
    phase(run, 'activating', 'waiting for the device to start the new firmware');
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

/** Sends one image, reconnecting and resuming after link losses (up to options.retries times). */
async function sendImage(run: Run, first: { conn: Connection; link: BootloaderLink } | undefined, p: ImageProgress): Promise<void> {
  const { options, log } = run;
  let current = first;
  const announced: { current: Announced | undefined } = { current: undefined };
  for (let reconnects = 0; ; ) {
    try {
      current ??= await reconnectBootloader(run, `for the ${p.image.summary.kind} image`);
      phase(run, reconnects === 0 ? 'transferring' : 'resuming', `sending the ${p.image.summary.kind} image (${p.index + 1}/${run.pkg.images.length}, ${p.image.bin.length} bytes) to ${current.conn.address.value}`);
      await transferImage(run, current.link, p, !options.disableResume, announced);
      current.link.close();
      await hangUpAfterActivation(run, current.conn, p.index === run.pkg.images.length - 1);
      return;
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
      if (reconnects >= options.retries) throw gaveUp(e, reconnects);
      reconnects++;
      const err = isBledfuError(e) ? e : undefined;
      log.warn({ code: err?.code, reconnect: reconnects, of: options.retries }, `link failure during the ${p.image.summary.kind} image: ${err?.message ?? String(e)}`);
      current = undefined;
    }
  }
}

/** The address the application would have if `bl` is a no-bonds bootloader (last octet − 1, wrapping). */
function appAddressBelow(bl: DeviceAddress): DeviceAddress {
  return offsetLastOctet(bl, -1);
}

/** Looks for the updated application and reads its Firmware Revision String (best effort). */
async function readFirmwareRevision(run: Run): Promise<{ address: DeviceAddress; revision: string | undefined } | undefined> {
  const app = run.appAddress;
  if (app === undefined) return undefined;
  const candidates = run.startedInBootloader ? [app.value, appAddressBelow(app).value] : [app.value];
  let conn: Connection | undefined;
  try {
    await run.clock.sleep(run.options.rebootDelayMs, run.signal);
    const adv = await findDevice(
      run.adapter,
      { kind: 'predicate', description: `the updated application at ${candidates.join(' or ')}`, test: (a) => candidates.includes(a.address.value) && !(run.startedInBootloader && a.address.value === app.value && a.serviceUuids.includes(UUIDS.secureDfuService) && a.name === 'DfuTarg') },
      { timeoutMs: run.options.scanTimeoutMs, signal: run.signal, clock: run.clock },
    );
    conn = await connect(run, adv.address);
    const services = await conn.discoverServices(run.signal);
    const ch = findCharacteristic(services, UUIDS.deviceInformationService, UUIDS.firmwareRevision);
    if (ch === undefined) return { address: adv.address, revision: undefined };
    const value = await conn.read(ch.valueHandle, run.signal);
    return { address: adv.address, revision: new TextDecoder().decode(value).replace(/\0+$/, '') };
  } catch (e) {
    // Only reached after the last image was accepted: a cancel now skips the read-back but must
    // not report the update as cancelled — the device has the new firmware.
    if (run.signal.aborted) {
      run.log.info('cancelled after the update completed; not reading the firmware revision back');
      return undefined;
    }
    run.log.info({ err: isBledfuError(e) ? e.message : String(e) }, 'could not read the firmware revision of the updated application');
    return undefined;
  } finally {
    await safeDisconnect(conn);
  }
}

export const runSecureDfu: DfuRunner = async (adapter, pkg, target, options, context): Promise<DfuOutcome> => {
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
    startedInBootloader: false,
    prn: options.prn,
  };
  if (pkg.images.length === 0) throw new BledfuError('PACKAGE_INVALID', 'package has no images', { layer: 'package' });
  try {
    let before = 0;
    for (const [index, image] of pkg.images.entries()) {
      const first = index === 0 ? await reachBootloader(run, target) : undefined;
      run.log.debug({ image: image.summary.kind, size: image.bin.length, crc32: crc32(image.bin).toString(16) }, 'image');
      await sendImage(run, first, { index, image, before, atStart: undefined });
      before += image.bin.length;
    }
    const found = await readFirmwareRevision(run);
    const address = found?.address ?? run.appAddress ?? run.bootloaderAddress;
    if (address === undefined) throw new BledfuError('INTERNAL', 'no device address after a DFU', { layer: 'dfu' });
    return found?.revision === undefined ? { address } : { address, firmwareRevision: found.revision };
  } catch (e) {
    if (context.signal.aborted) throw abortReason(context.signal);
    throw e;
  }
};
