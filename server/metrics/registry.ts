/**
 * The metrics of one server: a prom-client Registry of its own (never the library's global one,
 * so two servers in one process — tests — keep separate counts) with bledfu's metrics on it.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { AdapterDirectory } from '../jobs/types.js';
import { observeAdapters } from './adapterMetrics.js';
import { observeCampaigns, type CampaignSource } from './campaignMetrics.js';
import { observeJobs, type JobSource } from './dfuMetrics.js';
import { grpcCallMetrics, type GrpcMetricsMiddleware } from './grpcMetrics.js';
import type { Status } from 'nice-grpc-common';

export interface ServerMetricsOptions {
  readonly jobs: JobSource;
  /** Absent: no campaign metrics (tests of the job metrics alone). */
  readonly campaigns?: CampaignSource;
  readonly adapters: AdapterDirectory;
  /**
   * prom-client's standard process and Node.js metrics (process_cpu_seconds_total,
   * process_resident_memory_bytes, nodejs_eventloop_lag_seconds, …), under their usual names so
   * that existing dashboards work. On in bledfud; off in tests that count series.
   */
  readonly processMetrics?: boolean;
}

export interface ServerMetrics {
  readonly registry: Registry;
  /** Counts every gRPC call by method and status; the outermost middleware of the server. */
  readonly grpcMiddleware: GrpcMetricsMiddleware;
  /** Counts a call refused before any middleware ran (the transport gate). */
  readonly countGrpcCall: (path: string, code: Status) => void;
  /** Stops listening to jobs and adapters. */
  close(): void;
}

export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });
  const stopJobs = observeJobs(registry, options.jobs, options.adapters);
  const stopAdapters = observeAdapters(registry, options.adapters);
  const stopCampaigns = options.campaigns === undefined ? () => {} : observeCampaigns(registry, options.campaigns);
  const grpc = grpcCallMetrics(registry);
  return {
    registry,
    grpcMiddleware: grpc.middleware,
    countGrpcCall: grpc.count,
    close() {
      stopJobs();
      stopAdapters();
      stopCampaigns();
    },
  };
}
