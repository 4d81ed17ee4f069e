/** What the RPC handlers need, injected by the composition root (or a test). */
import type { DeviceAddress } from '../ble/address.js';
import type { AuditLog } from '../audit/log.js';
import type { Adapter } from '../ble/types.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { DfuTarget } from '../dfu/types.js';
import type { CampaignManager } from '../campaigns/manager.js';
import type { JobManager } from '../jobs/manager.js';
import type { PackageStore, ReadPackage } from '../jobs/packageStore.js';
import type { AdapterDirectory } from '../jobs/types.js';
import type { ConnectSessions } from './connectSessions.js';

/** Looks for the target by scanning; rejects with DEVICE_NOT_FOUND after `timeoutMs`. */
export type FindDevice = (
  adapter: Adapter,
  match: DfuTarget,
  options: { readonly timeoutMs: number; readonly signal: AbortSignal; readonly clock: Clock },
) => Promise<{ readonly address: DeviceAddress; readonly name?: string | undefined }>;

/** A serial port of the host, as the transport layer enumerates it (see transport/ports.ts). */
export interface SerialPortListing {
  readonly path: string;
  readonly byIdPath?: string;
  readonly vendorId?: string;
  readonly productId?: string;
  readonly serialNumber?: string;
  readonly manufacturer?: string;
  readonly product?: string;
  readonly driver?: string;
  readonly known?: { readonly name: string; readonly hint: string };
}

export interface ServiceDeps {
  readonly adapters: AdapterDirectory;
  readonly jobs: JobManager;
  /** The server's campaigns (StartCampaign and the rest). */
  readonly campaigns: CampaignManager;
  readonly packages: PackageStore;
  readonly readPackage: ReadPackage;
  readonly findDevice: FindDevice;
  /** The host's serial ports (candidate dongles). */
  readonly listSerialPorts: () => Promise<readonly SerialPortListing[]>;
  readonly logger: Logger;
  /** The server's clock (scan timeouts of Connect). */
  readonly clock: Clock;
  /** Largest package accepted inline in StartDfu or through UploadPackage, in bytes. */
  readonly maxPackageBytes: number;
  /** Aborts when the server stops, ending streams that would otherwise run forever (Scan, Connect, watches). */
  readonly stopping: AbortSignal;
  /** Devices held by open Connect calls: StartDfu refuses them (DEVICE_CONNECTED) instead of scanning in vain. */
  readonly connections: ConnectSessions;
  /** The DFU audit log ListAuditRecords reads; absent in tests that do not need one. */
  readonly audit?: AuditLog;
}
