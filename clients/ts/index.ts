/** The bledfu TypeScript client: the only module a program (or the CLI) needs to import. */
export { createBledfuClient, DEFAULT_SERVER, type BledfuClient, type BledfuClientOptions, type CallControl, type HealthClient } from './client.js';
export { downloadJobCapture } from './capture.js';
export { BledfuClientError, decodeError, decodeErrorDetail, formatError, type DecodedError } from './errors.js';
export {
  BledfuFleet,
  combinedFailure,
  FleetDeviceNotFoundError,
  parseFleetTarget,
  parseJobRef,
  systemResolver,
  type BledfuFleetOptions,
  type DeviceTarget,
  type FleetDfuEvent,
  type FleetResolver,
  type FleetResults,
  type FleetScanEvent,
  type FleetScanRequest,
  type FleetServer,
  type FleetStartDfuParams,
  type JobRef,
  type Located,
  type LocateOptions,
  type ServerFailure,
  type Sighting,
} from './fleet.js';
export {
  dfuProtocolName,
  jobStateName,
  startDfu,
  toDfuEvent,
  uploadPackage,
  watchJob,
  type DfuEvent,
  type PackageSource,
  type StartDfuParams,
} from './dfu.js';
export { deviceKindName, inBootloader, takeInventory, type InventoryOptions } from './inventory.js';
export {
  campaignDeviceStateName,
  campaignStateName,
  campaignStopReasonName,
  getCampaign,
  listCampaigns,
  NO_COUNTS,
  startCampaign,
  stopCampaign,
  toCampaignWatchEvent,
  watchCampaign,
  type CampaignWatchEvent,
  type StartCampaignParams,
} from './campaign.js';
export {
  Campaign,
  CampaignCounts,
  CampaignDevice,
  CampaignDeviceState,
  CampaignFilter,
  CampaignRetryPolicy,
  CampaignState,
  CampaignStopReason,
  campaignDeviceStateToJSON,
  campaignStateToJSON,
  campaignStopReasonToJSON,
} from '../../proto/gen/bledfu/v1/campaign.js';
export { Status } from 'nice-grpc';
export { Adapter, AdapterKind, AdapterState, AddressSource, SerialPort, adapterKindToJSON, adapterStateToJSON, addressSourceToJSON } from '../../proto/gen/bledfu/v1/adapter.js';
export { AuditRecord, AuditResult, auditResultToJSON, type AuditImage } from '../../proto/gen/bledfu/v1/audit.js';
export { AddressType, type Address, type Target, type ErrorDetail } from '../../proto/gen/bledfu/v1/common.js';
export {
  ButtonlessMode,
  CancelCause,
  CaptureState,
  DeviceState,
  DfuProtocol,
  dfuProtocolToJSON,
  ImageType,
  JobState,
  SkipReason,
  skipReasonToJSON,
  DeviceInfo,
  cancelCauseToJSON,
  captureStateToJSON,
  deviceStateToJSON,
  imageTypeToJSON,
  jobStateToJSON,
  DfuProgress,
  ImageInfo,
  Job,
  JobCapture,
  JobResult,
  PhaseTimes,
  type DfuOptions,
  type UploadPackageResponse,
} from '../../proto/gen/bledfu/v1/dfu.js';
export { characteristicPropertyToJSON, ConnectResponse, type GattService } from '../../proto/gen/bledfu/v1/connect.js';
export { Advertisement, type ScanFilter } from '../../proto/gen/bledfu/v1/scan.js';
export { DeviceKind, deviceKindToJSON, InventoryDevice, InventoryResponse } from '../../proto/gen/bledfu/v1/inventory.js';
export type { Duration } from '../../proto/gen/google/protobuf/duration.js';
export { HealthCheckResponse_ServingStatus as ServingStatus, healthCheckResponse_ServingStatusToJSON as servingStatusToJSON } from '../../proto/gen/grpc/health/v1/health.js';
// Making and reading packages and keys needs no server: the same as a TypeScript library function.
export {
  BOOT_VALIDATION_NAMES,
  decodeInitPacket,
  describeLegacyPackage,
  describePackage,
  DFU_PROTOCOL_TEXT,
  isLegacyPackage,
  packageProtocol,
  readAnyPackage,
  type AnyDfuPackage,
  type LegacyDfuPackage,
  type PackageProtocol,
  encodeIntelHex,
  generatePackage,
  generateSigningKey,
  loadPublicKey,
  loadSigningKey,
  parseIntelHex,
  publicKeyCode,
  publicKeyPem,
  readPackage,
  signInitCommand,
  verifyInitPacketSignature,
  type BootValidationName,
  type DfuPackage,
  type FirmwareSource,
  type GeneratedPackage,
  type GeneratePackageOptions,
  type HexSegment,
  type ImageKind,
  type ImageSummary,
  type InitPacket,
  type PackageImage,
  type PublicKeyInput,
} from './package.js';
