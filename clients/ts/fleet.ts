/**
 * Several bledfu servers as one: the stations of a site, or the pods behind a DNS name. Each
 * server keeps its own channel (the single-server client); the fleet fans calls out to all of
 * them, reports the ones that failed instead of failing as a whole, and sends a DFU to the
 * server that sees the device.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Status } from 'nice-grpc';
import type { Adapter } from '../../proto/gen/bledfu/v1/adapter.js';
import { AddressType, type Target } from '../../proto/gen/bledfu/v1/common.js';
import type { Job } from '../../proto/gen/bledfu/v1/dfu.js';
import type { Advertisement, ScanFilter, ScanRequest } from '../../proto/gen/bledfu/v1/scan.js';
import { callOptions, createBledfuClient, type BledfuClient, type BledfuClientOptions, type CallControl } from './client.js';
import { startDfu, watchJob, type DfuEvent, type StartDfuParams } from './dfu.js';
import { BledfuClientError, decodeError, type DecodedError } from './errors.js';
import { mergeProducers } from './merge.js';

/** Every address `host` resolves to (IPv4 and IPv6), as text. */
export type FleetResolver = (host: string) => Promise<readonly string[]>;

export const systemResolver: FleetResolver = async (host) => (await lookup(host, { all: true, family: 0 })).map((a) => a.address);

export interface BledfuFleetOptions extends Omit<BledfuClientOptions, 'authority'> {
  /** How `dns:///` names are resolved; default the system's resolver (node:dns lookup). */
  readonly resolve?: FleetResolver;
  /**
   * How long a name's addresses are reused before it is resolved again, so servers joining or
   * leaving (pods of a headless service) are seen. 0 resolves on every operation. Default 5 s.
   */
  readonly resolveTtlMs?: number;
}

/** One server of the fleet: its address ("host:port", for a `dns:///` target one of its IPs). */
export interface FleetServer {
  readonly server: string;
  readonly client: BledfuClient;
}

/** A server (or a `dns:///` target that did not resolve) that did not answer. */
export interface ServerFailure {
  readonly server: string;
  readonly error: DecodedError;
}

export interface FleetResults<T> {
  /** In target order (a name's addresses in resolver order). */
  readonly results: readonly { readonly server: string; readonly value: T }[];
  readonly failures: readonly ServerFailure[];
}

/** A job on one server: job ids are only unique per server. */
export interface JobRef {
  readonly server: string;
  readonly jobId: string;
}

export type FleetScanEvent =
  | { readonly type: 'advertisement'; readonly server: string; readonly advertisement: Advertisement }
  /** The server's scan failed (or it could not be reached); the others go on. */
  | ({ readonly type: 'failure' } & ServerFailure);

export interface FleetScanRequest {
  readonly adapterId?: string;
  readonly filter?: Partial<ScanFilter>;
  /** Seconds; unset scans until `signal` aborts. */
  readonly durationSeconds?: number;
  readonly allowDuplicates?: boolean;
  readonly active?: boolean;
}

/** A device by application address (its bootloader's address + 1 also matches) or exact name. */
export type DeviceTarget = { readonly address: string } | { readonly name: string } | Target;

export interface LocateOptions {
  /** How long to look before giving up; default 10 s. */
  readonly timeoutMs?: number;
  /**
   * After the first sighting, how long to wait for other servers to see the device too (less
   * once every server has); the strongest signal wins. Default 500 ms: servers scan at once, so
   * the others' reports arrive within a few advertising intervals (20 ms – 1 s) of the first.
   */
  readonly settleMs?: number;
  /** The adapter to scan with on every server; default each server's first ready adapter. */
  readonly adapterId?: string;
  readonly signal?: AbortSignal;
}

export interface Sighting {
  readonly server: string;
  readonly advertisement: Advertisement;
}

export interface Located extends Sighting {
  /** The adapter the server scanned with ('' = its first ready adapter, which StartDfu also uses). */
  readonly adapterId: string;
  /** Every server that saw the device in the window, strongest first. */
  readonly sightings: readonly Sighting[];
}

export type FleetDfuEvent = DfuEvent & { readonly server: string };

export interface FleetStartDfuParams extends Omit<StartDfuParams, 'target'> {
  readonly target: DeviceTarget;
}

/** HCI's "RSSI not available": ranks below any measured strength. */
const RSSI_NOT_AVAILABLE = 127;
const DEFAULT_TTL_MS = 5_000;
const DEFAULT_LOCATE_TIMEOUT_MS = 10_000;
const DEFAULT_SETTLE_MS = 500;

type ParsedTarget =
  | { readonly kind: 'direct'; readonly address: string }
  | { readonly kind: 'dns'; readonly text: string; readonly host: string; readonly port: string };

const DNS_TARGET = /^dns:\/\/\/(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** `dns:///name:port` (every address of name is a server) or any other channel target as one server. */
export function parseFleetTarget(text: string): ParsedTarget {
  const value = text.trim();
  if (!value.startsWith('dns:')) return { kind: 'direct', address: value };
  const m = DNS_TARGET.exec(value);
  if (m === null) {
    throw new BledfuClientError({
      code: 'USAGE',
      grpcCode: Status.INVALID_ARGUMENT,
      grpcCodeName: 'INVALID_ARGUMENT',
      message: `"${text}" is not dns:///name:port`,
      remedy: 'write e.g. dns:///bledfu.bledfu.svc.cluster.local:50051',
      metadata: {},
    });
  }
  return { kind: 'dns', text: value, host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: m[2] as string };
}

function hostPort(ip: string, port: string): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function protoTarget(t: DeviceTarget): Target {
  if ('selector' in t) return t;
  if ('address' in t) return { selector: { $case: 'address', address: { value: t.address, type: AddressType.ADDRESS_TYPE_UNSPECIFIED } } };
  return { selector: { $case: 'name', name: t.name } };
}

function describeTarget(t: Target): string {
  const s = t.selector;
  return s?.$case === 'address' ? s.address.value : s?.$case === 'name' ? `"${s.name}"` : '(no target)';
}

/**
 * The advertisement test for a target. An address also matches its bootloader's (last octet + 1,
 * no carry, Secure DFU §4.2), as the server's own device search does, so a device left in its
 * bootloader by an interrupted update is still found.
 */
function matcher(t: Target): { readonly filter: Partial<ScanFilter>; readonly matches: (ad: Advertisement) => boolean } {
  const s = t.selector;
  if (s?.$case === 'name') return { filter: { name: s.name }, matches: (ad) => ad.name === s.name };
  if (s?.$case !== 'address') throw usage('the target needs an address or a name');
  const app = s.address.value.toUpperCase();
  const octets = app.split(':');
  const last = parseInt(octets.at(-1) ?? '', 16);
  if (octets.length !== 6 || Number.isNaN(last)) throw usage(`"${s.address.value}" is not a device address AA:BB:CC:DD:EE:FF`);
  const bootloader = [...octets.slice(0, 5), ((last + 1) & 0xff).toString(16).padStart(2, '0').toUpperCase()].join(':');
  return { filter: {}, matches: (ad) => [app, bootloader].includes(ad.address?.value.toUpperCase() ?? '') };
}

function usage(message: string): BledfuClientError {
  return new BledfuClientError({ code: 'USAGE', grpcCode: Status.INVALID_ARGUMENT, grpcCodeName: 'INVALID_ARGUMENT', message, metadata: {} });
}

function rank(ad: Advertisement): number {
  return ad.rssi === RSSI_NOT_AVAILABLE ? Number.NEGATIVE_INFINITY : ad.rssi;
}

function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}

/** The first failure, with every server's failure in the message: "no server answered" in one error. */
export function combinedFailure(failures: readonly ServerFailure[]): DecodedError {
  const first = failures[0];
  if (first === undefined) {
    return { code: 'NO_SERVERS', grpcCode: Status.INVALID_ARGUMENT, grpcCodeName: 'INVALID_ARGUMENT', message: 'the fleet has no servers', metadata: {} };
  }
  if (failures.length === 1) return { ...first.error, message: `${first.server}: ${first.error.message}` };
  return { ...first.error, message: `no server answered: ${failures.map((f) => `${f.server}: ${f.error.code} ${f.error.message}`).join('; ')}` };
}

interface Resolution {
  readonly at: number;
  readonly addresses: Promise<readonly string[]>;
}

export class BledfuFleet {
  readonly targets: readonly string[];
  readonly #parsed: readonly ParsedTarget[];
  readonly #options: BledfuClientOptions;
  readonly #resolve: FleetResolver;
  readonly #ttlMs: number;
  readonly #resolutions = new Map<string, Resolution>();
  /** One client (channel) per server, kept until close(): a pod briefly missing from DNS keeps its channel. */
  readonly #clients = new Map<string, BledfuClient>();
  #closed = false;

  constructor(targets: readonly string[], options: BledfuFleetOptions = {}) {
    if (targets.length === 0) throw usage('a fleet needs at least one server');
    const { resolve, resolveTtlMs, ...clientOptions } = options;
    this.targets = [...targets];
    this.#parsed = targets.map(parseFleetTarget);
    this.#options = clientOptions;
    this.#resolve = resolve ?? systemResolver;
    this.#ttlMs = resolveTtlMs ?? DEFAULT_TTL_MS;
  }

  /** The servers now (names resolved again once their TTL has passed), and names that did not resolve. */
  async servers(): Promise<{ readonly servers: readonly FleetServer[]; readonly failures: readonly ServerFailure[] }> {
    if (this.#closed) throw usage('the fleet is closed');
    const servers: FleetServer[] = [];
    const failures: ServerFailure[] = [];
    const seen = new Set<string>();
    const add = (server: string, authority?: string): void => {
      if (seen.has(server)) return;
      seen.add(server);
      servers.push({ server, client: this.#clientFor(server, authority) });
    };
    const resolved = await Promise.all(
      this.#parsed.map(async (t) => {
        if (t.kind === 'direct') return { t, addresses: [] as readonly string[], error: undefined };
        try {
          const addresses = await this.#addresses(t.host);
          if (addresses.length === 0) throw new Error('the name has no addresses');
          return { t, addresses, error: undefined };
        } catch (e) {
          return { t, addresses: [] as readonly string[], error: e };
        }
      }),
    );
    for (const { t, addresses, error } of resolved) {
      if (t.kind === 'direct') {
        add(t.address);
      } else if (error !== undefined) {
        failures.push({
          server: t.text,
          error: {
            code: 'SERVER_UNREACHABLE',
            grpcCode: Status.UNAVAILABLE,
            grpcCodeName: 'UNAVAILABLE',
            message: `cannot resolve ${t.host}: ${error instanceof Error ? error.message : String(error)}`,
            remedy: 'check the name (e.g. the headless service of the bledfu pods) and the DNS setup',
            metadata: {},
          },
        });
      } else {
        // The certificate names the service, not the pod: keep the name for TLS and :authority.
        for (const ip of addresses) add(hostPort(ip, t.port), `${t.host}:${t.port}`);
      }
    }
    return { servers, failures };
  }

  /** The client of a server the fleet knows (one of servers()); a server it does not know is a usage error. */
  async client(server: string): Promise<BledfuClient> {
    const known = this.#clients.get(server);
    if (known !== undefined) return known;
    const { servers } = await this.servers();
    const found = servers.find((s) => s.server === server);
    if (found === undefined) throw usage(`${server} is not one of the servers (${servers.map((s) => s.server).join(', ')})`);
    return found.client;
  }

  /** Runs `fn` on every server at once; servers that fail are reported, not thrown. */
  async each<T>(fn: (client: BledfuClient, server: string) => Promise<T>): Promise<FleetResults<T>> {
    const { servers, failures } = await this.servers();
    const settled = await Promise.allSettled(servers.map((s) => fn(s.client, s.server)));
    const results: { server: string; value: T }[] = [];
    const failed: ServerFailure[] = [...failures];
    settled.forEach((r, i) => {
      const server = (servers[i] as FleetServer).server;
      if (r.status === 'fulfilled') results.push({ server, value: r.value });
      else failed.push({ server, error: decodeError(r.reason) });
    });
    return { results, failures: failed };
  }

  async adapters(call: CallControl = {}): Promise<FleetResults<readonly Adapter[]>> {
    return this.each(async (c) => (await c.listAdapters({}, callOptions(call))).adapters);
  }

  async jobs(options: { readonly activeOnly?: boolean; readonly campaignId?: string } & CallControl = {}): Promise<FleetResults<readonly Job[]>> {
    const request = { activeOnly: options.activeOnly === true, campaignId: options.campaignId ?? '' };
    return this.each(async (c) => (await c.listJobs(request, callOptions(options))).jobs);
  }

  /**
   * Scans on every server at once, merged in arrival order. A server that fails (or cannot be
   * reached) is reported as a `failure` event and the others go on. Ends when every scan has
   * ended, or when `signal` aborts (all are cancelled).
   */
  async *scan(request: FleetScanRequest = {}, call: { readonly signal?: AbortSignal } = {}): AsyncGenerator<FleetScanEvent> {
    const stop = new AbortController();
    const signal = call.signal === undefined ? stop.signal : AbortSignal.any([call.signal, stop.signal]);
    const scanRequest: ScanRequest = {
      adapterId: request.adapterId ?? '',
      filter: { name: '', namePrefix: '', address: '', serviceUuid: '', minRssi: undefined, dfuBootloaderOnly: false, ...request.filter },
      duration:
        request.durationSeconds === undefined
          ? undefined
          : { seconds: Math.floor(request.durationSeconds), nanos: Math.round((request.durationSeconds % 1) * 1e9) },
      allowDuplicates: request.allowDuplicates ?? false,
      active: request.active ?? false,
    };
    try {
      const { servers, failures } = await this.servers();
      for (const f of failures) yield { type: 'failure', ...f };
      yield* mergeProducers<FleetScanEvent>(
        servers.map(({ server, client }) => async (push) => {
          try {
            for await (const { advertisement } of client.scan(scanRequest, { signal })) {
              if (advertisement !== undefined) push({ type: 'advertisement', server, advertisement });
            }
          } catch (e) {
            if (!signal.aborted) push({ type: 'failure', server, error: decodeError(e) });
          }
        }),
      );
    } finally {
      stop.abort();
    }
  }

  /**
   * Finds the server that sees the device: scans the whole fleet until it is seen, waits
   * `settleMs` for other servers' sightings and picks the strongest RSSI (ties: the first seen).
   * Throws DEVICE_NOT_FOUND (NOT_FOUND, listing the servers asked and those that failed) when
   * nobody sees it within `timeoutMs`, and the servers' own error when none of them could scan.
   */
  async locate(target: DeviceTarget, options: LocateOptions = {}): Promise<Located> {
    const t = protoTarget(target);
    const { filter, matches } = matcher(t);
    const stop = new AbortController();
    const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
    const best = new Map<string, Sighting>();
    const asked = new Set<string>();
    const failures = new Map<string, DecodedError>();
    let settle: NodeJS.Timeout | undefined;
    const timeout = setTimeout(() => stop.abort(), options.timeoutMs ?? DEFAULT_LOCATE_TIMEOUT_MS);
    try {
      const { servers } = await this.servers();
      for (const s of servers) asked.add(s.server);
      // Active: a name is often only in the scan response.
      for await (const e of this.scan({ adapterId: options.adapterId ?? '', filter, active: true }, { signal })) {
        if (e.type === 'failure') {
          failures.set(e.server, e.error);
        } else if (matches(e.advertisement)) {
          const before = best.get(e.server);
          if (before === undefined || rank(e.advertisement) > rank(before.advertisement)) best.set(e.server, { server: e.server, advertisement: e.advertisement });
          settle ??= setTimeout(() => stop.abort(), options.settleMs ?? DEFAULT_SETTLE_MS);
        }
        // Every server has seen it (or failed): nothing left to wait for.
        if (best.size > 0 && [...asked].every((s) => best.has(s) || failures.has(s))) break;
      }
    } finally {
      clearTimeout(timeout);
      clearTimeout(settle);
      stop.abort();
    }
    if (options.signal?.aborted === true) throw abortError();
    // Map order is first-sighting order, and the sort is stable: ties go to the first seen.
    const sightings = [...best.values()].sort((a, b) => rank(b.advertisement) - rank(a.advertisement));
    const chosen = sightings[0];
    // No server could scan at all: that, not the device's absence, is the failure.
    if (chosen === undefined && failures.size > 0 && [...asked].every((s) => failures.has(s))) {
      throw new BledfuClientError(combinedFailure([...failures].map(([server, error]) => ({ server, error }))));
    }
    if (chosen === undefined) {
      throw new FleetDeviceNotFoundError(t, [...asked], [...failures].map(([server, error]) => ({ server, error })));
    }
    return { ...chosen, adapterId: options.adapterId ?? '', sightings };
  }

  /**
   * Locates the device, then runs the DFU on that server (see startDfu for the events and how a
   * failure ends the iteration). `onLocated` hears where it runs before the job starts.
   */
  async *startDfu(
    params: FleetStartDfuParams,
    options: CallControl & { readonly locate?: Omit<LocateOptions, 'signal' | 'adapterId'>; readonly onLocated?: (located: Located) => void } = {},
  ): AsyncGenerator<FleetDfuEvent> {
    const located = await this.locate(params.target, {
      ...options.locate,
      ...(params.adapterId === undefined ? {} : { adapterId: params.adapterId }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    options.onLocated?.(located);
    const client = await this.client(located.server);
    for await (const e of startDfu(client, { ...params, target: protoTarget(params.target), adapterId: located.adapterId }, callOptions(options))) {
      yield { ...e, server: located.server };
    }
  }

  /** The server that has job `jobId`; JOB_NOT_FOUND (NOT_FOUND) when none has, USAGE when several have. */
  async findJob(jobId: string, call: CallControl = {}): Promise<JobRef> {
    const { results, failures } = await this.each(async (c) => (await c.getJob({ jobId }, callOptions(call))).job);
    const holders = results.filter((r) => r.value !== undefined).map((r) => r.server);
    if (holders.length > 1) throw usage(`job ${jobId} exists on several servers (${holders.join(', ')}); write <server>/${jobId}`);
    const holder = holders[0];
    if (holder !== undefined) return { server: holder, jobId };
    const unreachable = failures.filter((f) => f.error.grpcCode !== Status.NOT_FOUND);
    const asked = [...results.map((r) => r.server), ...failures.map((f) => f.server)];
    throw new BledfuClientError({
      code: 'JOB_NOT_FOUND',
      grpcCode: Status.NOT_FOUND,
      grpcCodeName: 'NOT_FOUND',
      message:
        `no server has job ${jobId} (asked ${asked.join(', ')})` +
        (unreachable.length === 0 ? '' : `; ${unreachable.map((f) => `${f.server} failed: ${f.error.code}`).join(', ')}`),
      remedy: 'see the job ids with bledfu jobs list',
      metadata: { servers: asked.join(',') },
    });
  }

  async *watchJob(ref: JobRef, call: CallControl = {}): AsyncGenerator<FleetDfuEvent> {
    const client = await this.client(ref.server);
    for await (const e of watchJob(client, ref.jobId, call)) yield { ...e, server: ref.server };
  }

  async cancelJob(ref: JobRef, call: CallControl = {}): Promise<Job | undefined> {
    const client = await this.client(ref.server);
    return (await client.cancelJob({ jobId: ref.jobId }, callOptions(call))).job;
  }

  /** Closes every channel; calls in flight fail. */
  close(): void {
    this.#closed = true;
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  #clientFor(server: string, authority: string | undefined): BledfuClient {
    let c = this.#clients.get(server);
    if (c === undefined) {
      c = createBledfuClient(server, authority === undefined ? this.#options : { ...this.#options, authority });
      this.#clients.set(server, c);
    }
    return c;
  }

  async #addresses(host: string): Promise<readonly string[]> {
    // An IP literal needs no lookup (and a resolver injected for tests need not know it).
    if (isIP(host) !== 0) return [host];
    const cached = this.#resolutions.get(host);
    if (cached !== undefined && Date.now() - cached.at < this.#ttlMs) return cached.addresses;
    const addresses = this.#resolve(host);
    this.#resolutions.set(host, { at: Date.now(), addresses });
    // A failed lookup is not kept: the next operation tries again.
    addresses.catch(() => this.#resolutions.delete(host));
    return addresses;
  }
}

/** `<server>/<id>` as a JobRef; a bare id gives only the id (findJob finds its server). */
export function parseJobRef(text: string): JobRef | { readonly jobId: string } {
  const at = text.lastIndexOf('/');
  return at <= 0 ? { jobId: text } : { server: text.slice(0, at), jobId: text.slice(at + 1) };
}

/** No server of the fleet saw the device: NOT_FOUND, code DEVICE_NOT_FOUND (decodeError). */
export class FleetDeviceNotFoundError extends BledfuClientError {
  /** The servers that scanned for it. */
  readonly servers: readonly string[];
  /** Servers (or names) whose scan failed, with why. */
  readonly failures: readonly ServerFailure[];
  constructor(target: Target, servers: readonly string[], failures: readonly ServerFailure[]) {
    const failed = failures.map((f) => `${f.server} failed: ${f.error.code} ${f.error.message}`);
    super({
      code: 'DEVICE_NOT_FOUND',
      grpcCode: Status.NOT_FOUND,
      grpcCodeName: 'NOT_FOUND',
      message: `no server saw device ${describeTarget(target)} (asked ${servers.join(', ') || 'none'})${failed.length === 0 ? '' : `; ${failed.join('; ')}`}`,
      remedy: 'check that the device is powered and advertising near one of the servers, or allow a longer scan',
      metadata: { servers: servers.join(','), ...(failures.length === 0 ? {} : { failed: failures.map((f) => f.server).join(',') }) },
    });
    this.name = 'FleetDeviceNotFoundError';
    this.servers = servers;
    this.failures = failures;
  }
}
