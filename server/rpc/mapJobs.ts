/** proto ⇄ jobs/ and dfu/ values: jobs, events, progress, results, images, DFU options. */
import {
  ButtonlessMode,
  CancelCause,
  CaptureState,
  DeviceState,
  DfuProtocol,
  ImageType,
  JobState,
  SkipReason,
  type DeviceInfo as DeviceInfoMessage,
  type DfuOptions as DfuOptionsMessage,
  type DfuProgress,
  type ImageInfo,
  type Job,
  type JobCapture,
  type JobEvent as JobEventMessage,
  type JobResult as JobResultMessage,
  type PhaseTimes as PhaseTimesMessage,
} from '../../proto/gen/bledfu/v1/dfu.js';
import type { PhaseTimes } from '../dfu/phases.js';
import { BledfuError } from '../common/errors.js';
import {
  DEFAULT_DFU_OPTIONS,
  type ButtonlessMode as DomainButtonlessMode,
  type DeviceInfo,
  type DeviceState as DomainDeviceState,
  type DfuProtocol as DomainDfuProtocol,
  type SkipReason as DomainSkipReason,
  type DfuOptions,
  type ImageKind,
  type ImageSummary,
} from '../dfu/types.js';
import type {
  JobCancellation,
  JobCaptureInfo,
  JobCaptureState,
  JobEvent,
  JobProgress,
  JobResult,
  JobSnapshot,
  JobState as DomainJobState,
} from '../jobs/types.js';
import { DEVICE_INFO_MAX_BYTES } from '../dfu/deviceInfo.js';
import { durationFromMs } from './duration.js';
import { addressToProto, targetToProto } from './mapBle.js';
import { errorDetailFor, errorMetadata, statusForCode } from './status.js';
import { DURATION_RANGES, msFromDuration, retriesFromProto } from './validate.js';

const JOB_STATES = {
  queued: JobState.JOB_STATE_QUEUED,
  connecting: JobState.JOB_STATE_CONNECTING,
  'entering-bootloader': JobState.JOB_STATE_ENTERING_BOOTLOADER,
  transferring: JobState.JOB_STATE_TRANSFERRING,
  resuming: JobState.JOB_STATE_RESUMING,
  activating: JobState.JOB_STATE_ACTIVATING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  'up-to-date': JobState.JOB_STATE_UP_TO_DATE,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
} as const satisfies Record<DomainJobState, JobState>;

const CAPTURE_STATES = {
  pending: CaptureState.CAPTURE_STATE_PENDING,
  recording: CaptureState.CAPTURE_STATE_RECORDING,
  complete: CaptureState.CAPTURE_STATE_COMPLETE,
  discarded: CaptureState.CAPTURE_STATE_DISCARDED,
  unavailable: CaptureState.CAPTURE_STATE_UNAVAILABLE,
} as const satisfies Record<JobCaptureState, CaptureState>;

export function captureToProto(c: JobCaptureInfo): JobCapture {
  return { state: CAPTURE_STATES[c.state], size: c.size, truncated: c.truncated };
}

const IMAGE_TYPES = {
  softdevice_bootloader: ImageType.IMAGE_TYPE_SOFTDEVICE_BOOTLOADER,
  softdevice: ImageType.IMAGE_TYPE_SOFTDEVICE,
  bootloader: ImageType.IMAGE_TYPE_BOOTLOADER,
  application: ImageType.IMAGE_TYPE_APPLICATION,
} as const satisfies Record<ImageKind, ImageType>;

export function jobStateToProto(state: DomainJobState): JobState {
  return JOB_STATES[state];
}

export function imageInfoToProto(s: ImageSummary): ImageInfo {
  return {
    type: IMAGE_TYPES[s.kind],
    size: s.size,
    fwVersion: s.fwVersion ?? 0,
    hwVersion: s.hwVersion ?? 0,
    sdReq: [...s.sdReq],
    sha256: s.sha256,
    signed: s.signed,
    isDebug: s.isDebug,
  };
}

export function progressToProto(p: JobProgress): DfuProgress {
  return {
    imageIndex: p.imageIndex,
    imageCount: p.imageCount,
    imageType: IMAGE_TYPES[p.imageKind],
    imageBytesSent: p.imageBytesSent,
    imageBytesTotal: p.imageBytesTotal,
    totalBytesSent: p.totalBytesSent,
    totalBytesTotal: p.totalBytesTotal,
    currentRate: p.currentRate,
    averageRate: p.averageRate,
    eta: p.etaMs === undefined ? undefined : durationFromMs(p.etaMs),
  };
}

const DEVICE_STATES = {
  application: DeviceState.DEVICE_STATE_APPLICATION,
  'dfu-mode': DeviceState.DEVICE_STATE_DFU_MODE,
} as const satisfies Record<DomainDeviceState, DeviceState>;

/** Where a job left its device; UNSPECIFIED when not known. */
export function deviceStateToProto(s: DomainDeviceState | undefined): DeviceState {
  return s === undefined ? DeviceState.DEVICE_STATE_UNSPECIFIED : DEVICE_STATES[s];
}

/** A device's Device Information (absent fields as empty strings). */
export function deviceInfoToProto(i: DeviceInfo): DeviceInfoMessage {
  return {
    manufacturer: i.manufacturer ?? '',
    model: i.model ?? '',
    serialNumber: i.serialNumber ?? '',
    hardwareRevision: i.hardwareRevision ?? '',
    firmwareRevision: i.firmwareRevision ?? '',
    softwareRevision: i.softwareRevision ?? '',
  };
}

const SKIP_REASONS = {
  'firmware-revision': SkipReason.SKIP_REASON_FIRMWARE_REVISION,
} as const satisfies Record<DomainSkipReason, SkipReason>;

/** Why a job left its device alone; UNSPECIFIED when it did not. */
export function skipReasonToProto(s: DomainSkipReason | undefined): SkipReason {
  return s === undefined ? SkipReason.SKIP_REASON_UNSPECIFIED : SKIP_REASONS[s];
}

const DFU_PROTOCOLS = {
  secure: DfuProtocol.DFU_PROTOCOL_SECURE,
  legacy: DfuProtocol.DFU_PROTOCOL_LEGACY,
} as const satisfies Record<DomainDfuProtocol, DfuProtocol>;

/** undefined (an audit record older than the field): UNSPECIFIED. */
export function dfuProtocolToProto(p: DomainDfuProtocol | undefined): DfuProtocol {
  return p === undefined ? DfuProtocol.DFU_PROTOCOL_UNSPECIFIED : DFU_PROTOCOLS[p];
}

/** Per-phase times (dfu/phases.ts) → PhaseTimes. */
export function phaseTimesToProto(t: PhaseTimes): PhaseTimesMessage {
  return {
    scan: durationFromMs(t.scan),
    connect: durationFromMs(t.connect),
    buttonlessEntry: durationFromMs(t.buttonless),
    rebootWaits: durationFromMs(t.reboot),
    initPacket: durationFromMs(t.initPacket),
    dataTransfer: durationFromMs(t.dataTransfer),
    flashWaits: durationFromMs(t.flashWait),
    activation: durationFromMs(t.activation),
    finalRead: durationFromMs(t.finalRead),
    other: durationFromMs(t.other),
  };
}

const CANCEL_CAUSES = {
  'cancel-job': CancelCause.CANCEL_CAUSE_CANCEL_JOB,
  shutdown: CancelCause.CANCEL_CAUSE_SERVER_SHUTDOWN,
} as const satisfies Record<JobCancellation['cause'], CancelCause>;

export function resultToProto(r: JobResult): JobResultMessage {
  const c = r.cancellation;
  return {
    state: jobStateToProto(r.state),
    success: r.success,
    // The status a call failing with this error carries (status.ts), so a client that raises the
    // job's failure can classify it like any failed call.
    errorStatus: r.error === undefined ? 0 : statusForCode(r.error.code),
    cancelCause: c === undefined ? CancelCause.CANCEL_CAUSE_UNSPECIFIED : CANCEL_CAUSES[c.cause],
    cancelledBy: c?.cause === 'cancel-job' ? (c.by ?? '') : '',
    errorMetadata: r.error === undefined ? {} : errorMetadata(r.error),
    error: r.error === undefined ? undefined : errorDetailFor(r.error),
    duration: durationFromMs(r.durationMs),
    firmwareRevision: r.firmwareRevision ?? '',
    modelledAirTime: r.modelledAirTimeMs === undefined ? undefined : durationFromMs(r.modelledAirTimeMs),
    deviceState: deviceStateToProto(r.deviceState),
    phaseTimes: r.phases === undefined ? undefined : phaseTimesToProto(r.phases),
    refusedImage: r.upToDate === undefined ? undefined : imageInfoToProto(r.upToDate.image),
    deviceInfo: r.deviceInfo === undefined ? undefined : deviceInfoToProto(r.deviceInfo),
    skipped: skipReasonToProto(r.skipped),
    protocol: dfuProtocolToProto(r.protocol),
  };
}

export function jobToProto(j: JobSnapshot): Job {
  return {
    jobId: j.id,
    state: jobStateToProto(j.state),
    target: targetToProto(j.target),
    adapterId: j.adapterId,
    deviceAddress: j.deviceAddress === undefined ? undefined : addressToProto(j.deviceAddress),
    bootloaderAddress: j.bootloaderAddress === undefined ? undefined : addressToProto(j.bootloaderAddress),
    images: j.images.map(imageInfoToProto),
    packageSha256: j.packageSha256,
    createdAt: new Date(j.createdAt),
    finishedAt: j.finishedAt === undefined ? undefined : new Date(j.finishedAt),
    progress: j.progress === undefined ? undefined : progressToProto(j.progress),
    result: j.result === undefined ? undefined : resultToProto(j.result),
    capture: j.capture === undefined ? undefined : captureToProto(j.capture),
    requestedBy: j.requestedBy ?? '',
    labels: { ...j.labels },
    deviceInfo: j.deviceInfo === undefined ? undefined : deviceInfoToProto(j.deviceInfo),
    campaignId: j.campaignId ?? '',
    protocol: dfuProtocolToProto(j.protocol),
  };
}

export function jobEventToProto(e: JobEvent): JobEventMessage {
  const base = { jobId: e.jobId, time: new Date(e.time) };
  switch (e.kind) {
    case 'snapshot':
      return { ...base, kind: { $case: 'snapshot', snapshot: jobToProto(e.job) } };
    case 'state':
      return { ...base, kind: { $case: 'stateChanged', stateChanged: { state: jobStateToProto(e.state), detail: e.detail } } };
    case 'progress':
      return { ...base, kind: { $case: 'progress', progress: progressToProto(e.progress) } };
    case 'finished':
      return { ...base, kind: { $case: 'finished', finished: resultToProto(e.result) } };
    case 'device-info':
      return { ...base, kind: { $case: 'deviceInfo', deviceInfo: deviceInfoToProto(e.info) } };
  }
}

function buttonlessFromProto(mode: ButtonlessMode): DomainButtonlessMode {
  switch (mode) {
    case ButtonlessMode.BUTTONLESS_MODE_UNSPECIFIED:
      return DEFAULT_DFU_OPTIONS.buttonless;
    case ButtonlessMode.BUTTONLESS_MODE_AUTO:
      return 'auto';
    case ButtonlessMode.BUTTONLESS_MODE_REQUIRED:
      return 'required';
    case ButtonlessMode.BUTTONLESS_MODE_OFF:
      return 'off';
    default:
      throw new BledfuError('INVALID_ARGUMENT', `unknown buttonless mode ${String(mode)}`, { layer: 'rpc' });
  }
}

/** ATT MTU bounds: the spec's minimum, and the largest an LE link negotiates (Core Vol 3, Part F, 3.2.8/9). */
const MTU_MIN = 23;
const MTU_MAX = 517;

/** A requested ATT MTU; 0 means the default. */
export function mtuFromProto(mtu: number): number {
  if (mtu === 0) return DEFAULT_DFU_OPTIONS.mtu;
  if (mtu < MTU_MIN || mtu > MTU_MAX) {
    throw new BledfuError('INVALID_ARGUMENT', `mtu ${mtu} is out of range ${MTU_MIN}..${MTU_MAX}`, {
      layer: 'rpc',
      remedy: 'leave mtu at 0 for the default (247)',
    });
  }
  return mtu;
}

/** Bytes of DfuOptions.skip_if_firmware_revision: a DIS value is kept to 64 bytes (dfu/deviceInfo.ts). */
const SKIP_REVISION_MAX_BYTES = DEVICE_INFO_MAX_BYTES;

function skipFromProto(revision: string): Pick<DfuOptions, 'skipIfFirmwareRevision'> {
  if (revision === '') return {};
  if (Buffer.byteLength(revision, 'utf8') > SKIP_REVISION_MAX_BYTES) {
    throw new BledfuError('INVALID_ARGUMENT', `skip_if_firmware_revision is longer than ${SKIP_REVISION_MAX_BYTES} bytes`, {
      layer: 'rpc',
      remedy: `give the Firmware Revision String as the device reports it (devices' values are kept to their first ${SKIP_REVISION_MAX_BYTES} bytes)`,
    });
  }
  return { skipIfFirmwareRevision: revision };
}

/** Options from a request; zero/unset fields take DEFAULT_DFU_OPTIONS. */
export function dfuOptionsFromProto(o: DfuOptionsMessage | undefined): DfuOptions {
  const d = DEFAULT_DFU_OPTIONS;
  if (o === undefined) return d;
  if (o.prn > 0xffff) {
    throw new BledfuError('INVALID_ARGUMENT', `prn ${o.prn} is out of range 0..65535`, { layer: 'rpc' });
  }
  return {
    prn: o.prn,
    mtu: mtuFromProto(o.mtu),
    retries: retriesFromProto(o.retries, d.retries),
    buttonless: buttonlessFromProto(o.buttonless),
    scanTimeoutMs: msFromDuration(o.scanTimeout, d.scanTimeoutMs, DURATION_RANGES.scanTimeout),
    requestTimeoutMs: msFromDuration(o.requestTimeout, d.requestTimeoutMs, DURATION_RANGES.requestTimeout),
    disableResume: o.disableResume,
    rebootDelayMs: d.rebootDelayMs,
    ...skipFromProto(o.skipIfFirmwareRevision),
  };
}
