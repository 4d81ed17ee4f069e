/** Runs the Secure DFU engine against a device on btvirt and keeps what it reported. */
import { realClock } from '../../../server/common/clock.js';
import { parseAddress } from '../../../server/ble/address.js';
import type { Adapter } from '../../../server/ble/types.js';
import type { Logger } from '../../../server/common/logger.js';
import { readPackage } from '../../../server/dfu/package/package.js';
import { runSecureDfu } from '../../../server/dfu/secure/engine.js';
import { DEFAULT_DFU_OPTIONS, type DfuEvent, type DfuOptions, type DfuOutcome } from '../../../server/dfu/types.js';
import { revisionOf } from '../job-events.js';
import { projectFacts } from '../project-packages.js';

const app = await projectFacts('app');

/** The project's ~100 KB application package (demo key, the simulator's default), with its computed facts. */
export const APP_PACKAGE = {
  name: 'project package app.zip',
  zip: app.zip,
  size: app.size,
  datSize: app.datSize,
  revision: revisionOf(app.fwVersion, app.sha256),
} as const;

export interface DfuRun {
  readonly outcome: DfuOutcome;
  readonly events: readonly DfuEvent[];
  /** Wall time of the whole run (find, buttonless entry, transfer, activation, read-back). */
  readonly wallMs: number;
  /** Wall time from the first 'transferring' to 'activating'. */
  readonly transferMs: number;
}

export async function dfu(adapter: Adapter, appAddress: string, logger: Logger, options: Partial<DfuOptions> = {}, timeoutMs = 60_000): Promise<DfuRun> {
  const pkg = await readPackage(APP_PACKAGE.zip);
  const events: DfuEvent[] = [];
  let transferStart = Number.NaN;
  let transferEnd = Number.NaN;
  const t0 = performance.now();
  const outcome = await runSecureDfu(adapter, pkg, { kind: 'address', address: parseAddress(appAddress, 'random') }, { ...DEFAULT_DFU_OPTIONS, ...options }, {
    signal: AbortSignal.timeout(timeoutMs),
    clock: realClock,
    logger,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'phase' && e.phase === 'transferring' && Number.isNaN(transferStart)) transferStart = performance.now();
      if (e.kind === 'phase' && e.phase === 'activating') transferEnd = performance.now();
    },
  });
  return { outcome, events, wallMs: performance.now() - t0, transferMs: transferEnd - transferStart };
}

export const phases = (events: readonly DfuEvent[]): string[] => events.flatMap((e) => (e.kind === 'phase' ? [e.phase] : []));
