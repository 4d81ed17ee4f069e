/**
 * Every setting of the server, declared once: its default, its type and what it does. Flags,
 * environment variables, the JSON file and `--help` are all derived from this table, so a
 * setting cannot exist in one place and be missing in another.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface Base {
  readonly description: string;
}
export type SettingSpec =
  | (Base & { readonly kind: 'string'; readonly default: string })
  /** A file path; '' (the default) = not set. */
  | (Base & { readonly kind: 'path'; readonly default: '' })
  /** A switch: the bare flag means true; env and file take true/false. */
  | (Base & { readonly kind: 'boolean'; readonly default: boolean })
  /** host:port, the port 0..65535 (0: any free port); an IPv6 host in brackets. `optional`: '' = off. */
  | (Base & { readonly kind: 'hostPort'; readonly default: string; readonly optional?: boolean })
  /** Comma-separated; each item must start with one of `prefixes` (case-insensitive). */
  | (Base & { readonly kind: 'list'; readonly default: readonly string[]; readonly prefixes?: readonly string[] })
  | (Base & { readonly kind: 'integer'; readonly default: number; readonly min: number })
  /** A byte count; accepts suffixes K/M/G (binary: KiB, MiB, GiB). */
  | (Base & { readonly kind: 'bytes'; readonly default: number; readonly min: number })
  | (Base & { readonly kind: 'enum'; readonly default: string; readonly values: readonly string[] });

const MiB = 1024 * 1024;

/** Where a packaged server (systemd unit, container image) keeps its files: --data-dir's first choice. */
export const SYSTEM_DATA_DIR = '/var/lib/bledfu';

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * Forward secrecy and authenticated encryption only: ECDHE key exchange with AES-GCM or
 * ChaCha20-Poly1305 for TLS 1.2, and TLS 1.3's own suites (all AEAD, all ephemeral).
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const SETTINGS = {
  listen: {
    kind: 'hostPort',
    default: '127.0.0.1:50051',
    description: 'gRPC listen address host:port; beyond loopback the server requires TLS or tokens (see --insecure)',
  },
  metricsListen: {
    kind: 'hostPort',
    default: '',
    optional: true,
    description:
      'serve Prometheus metrics over plain HTTP at http://<host:port>/metrics (e.g. 0.0.0.0:9464; they hold no secrets, so any interface will do); empty: no metrics',
  },
  tlsCert: { kind: 'path', default: '', description: 'server certificate chain (PEM); with --tls-key, serves TLS' },
  tlsKey: { kind: 'path', default: '', description: 'private key of --tls-cert (PEM)' },
  tlsClientCa: {
    kind: 'path',
    default: '',
    description: 'CA bundle (PEM) for mutual TLS: clients must present a certificate it signed',
  },
  tokensFile: {
    kind: 'path',
    default: '',
    description:
      'bearer tokens file, lines "<role> <token> [<name>]" (role observe, operate or admin; the name goes into jobs and audit records); set = every BledfuService call needs a token; placeholder and predictable tokens are refused',
  },
  tlsMinVersion: {
    kind: 'enum',
    default: 'TLSv1.2',
    values: TLS_VERSIONS,
    description: 'oldest TLS version the server accepts',
  },
  tlsCiphers: {
    kind: 'string',
    default: DEFAULT_TLS_CIPHERS,
    description:
      'TLS 1.2 and 1.3 cipher suites offered, in OpenSSL notation, colon-separated; the default has only ECDHE key exchange with AEAD ciphers (no CBC, no SHA-1, no static RSA)',
  },
  insecure: {
    kind: 'boolean',
    default: false,
    description: 'allow listening beyond loopback with neither TLS nor tokens (logs a warning)',
  },
  adapters: {
    kind: 'list',
    default: ['sim:'],
    // Every scheme the registry knows, usable or not yet: a typo stops the server at startup
    // instead of leaving a FAILED adapter of a made-up kind.
    prefixes: ['sim:', 'hci:', 'nrf:', 'auto:'],
    description:
      'adapters to open, comma-separated specs: "sim:[?devices=N&speed=S|max&key=NAME&dongle=hci|nrf&api=5|6&…]" (the simulator: devices= how many simulated nRF52 devices, default 1; ' +
      'speed= modelled time as a multiple of real time, any number > 0 (1: real time, beside real dongles and for demos) or max, the default: as fast as the host can, on its own modelled clock; ' +
      'key= the public key the bootloaders trust: bledfu-demo (default, the project\'s demo key), sdk17.0.2, sdk16.0.0, sdk14.2.0, sdk12.2.0 (Nordic\'s debug keys) or iosdfu; dongle=nrf puts a simulated Nordic connectivity dongle on it, api= its SoftDevice API; ' +
      'also first=, rssi=, keyfile=, progress=, debug=, signedApp=, fault=, acl=, controller=, links=, baud=, kind= (secure, legacy-sdk11 or legacy-adafruit devices), entry=: see README "Adapters"), ' +
      '"hci:<port>[?baud=1000000&rtscts=on|off&max=<links>&capture=<file.btsnoop>]" (a serial HCI dongle; max= its connection limit, default 4), ' +
      '"nrf:<port>[?baud=1000000&api=auto|5|6&rtscts=off&max=<links>]" (a board running Nordic connectivity firmware 4.1.x), ' +
      '"auto:<port>[?…]" (probe the port, then open it as hci: or nrf:)',
  },
  logLevel: { kind: 'enum', default: 'info', values: LOG_LEVELS, description: 'log level (JSON lines on stdout)' },
  maxConcurrentDfus: {
    kind: 'integer',
    default: 4,
    min: 1,
    description: "DFU jobs running at once per adapter, never more than the adapter's connection limit (hci: max=); further jobs wait in QUEUED",
  },
  maxQueuedDfus: {
    kind: 'integer',
    default: 256,
    min: 0,
    description:
      'DFU jobs waiting in QUEUED per adapter (for a free slot or for another job on the same device); StartDfu beyond it is refused (JOB_QUEUE_FULL, RESOURCE_EXHAUSTED)',
  },
  maxQueuedDfusTotal: {
    kind: 'integer',
    default: 1024,
    min: 0,
    description: 'DFU jobs waiting in QUEUED over all adapters; StartDfu beyond it is refused (JOB_QUEUE_FULL, RESOURCE_EXHAUSTED)',
  },
  maxRequestBytes: {
    kind: 'bytes',
    default: 64 * MiB,
    min: 1024,
    description: 'largest package accepted in StartDfu or UploadPackage (suffixes K, M, G)',
  },
  maxMessageBytes: {
    kind: 'bytes',
    default: 256 * 1024,
    min: 1024,
    description:
      'largest request message of every other method (reflection and health included) and of any call refused before its token is checked: bigger ones end RESOURCE_EXHAUSTED unread',
  },
  maxConcurrentUploads: {
    kind: 'integer',
    default: 8,
    min: 1,
    description:
      'package-carrying calls (StartDfu, UploadPackage) receiving their request at once; one more UploadPackage ends RESOURCE_EXHAUSTED (reason TOO_MANY_UPLOADS) before its body is read, one more StartDfu waits for a slot (up to 30 s, up to 4 × this many waiting)',
  },
  packageStoreBytes: {
    kind: 'bytes',
    default: 256 * MiB,
    min: 1024,
    description:
      "memory for packages, counted as their unpacked images: uploaded ones and those of queued and running jobs (one copy per package, however many jobs use it); unused ones are dropped least recently used first, and a package that does not fit beside the jobs' is refused (PACKAGE_STORE_FULL, RESOURCE_EXHAUSTED)",
  },
  packageReaders: {
    kind: 'integer',
    default: 1,
    min: 1,
    description:
      'threads that read and check uploaded packages (unzip, hashes, init packets), off the thread that drives the radio and running DFUs',
  },
  packageReadQueue: {
    kind: 'integer',
    default: 8,
    min: 0,
    description:
      'packages that may wait for a free package reader; one more is refused RESOURCE_EXHAUSTED (PACKAGE_READERS_BUSY) until one is read',
  },
  jobRetention: {
    kind: 'integer',
    default: 200,
    min: 0,
    description: 'finished jobs kept for GetJob/ListJobs/WatchJob',
  },
  shutdownGraceMs: {
    kind: 'integer',
    default: 10_000,
    min: 0,
    description: 'on SIGINT/SIGTERM, how long to wait for cancelled jobs and open calls before closing',
  },
  dataDir: {
    kind: 'path',
    default: '',
    description:
      'directory for the files the server keeps across restarts: the audit log (unless --audit-log says otherwise), devices.json (where devices were met in their bootloader) and station-addresses.json (the static random address of each HCI dongle without a public address); created if absent, and the server refuses to start if it cannot write there. ' +
      `Empty: ${SYSTEM_DATA_DIR} when this user can write there (a service account), else the per-user state directory $XDG_STATE_HOME/bledfu (default ~/.local/state/bledfu); the log says which at startup`,
  },
  auditLog: {
    kind: 'string',
    default: '',
    description: 'append-only audit log of every DFU (JSON lines, synced to disk per record); empty: audit.jsonl in the data dir',
  },
  auditRotateBytes: {
    kind: 'bytes',
    default: 64 * MiB,
    min: 64 * 1024,
    description:
      'rotate the audit log before a record would take it past this size (suffixes K, M, G): the file is renamed <audit-log>.<n> (1 the oldest) and stays queryable',
  },
  auditRotateAgeHours: {
    kind: 'integer',
    default: 168,
    min: 0,
    description: 'also rotate the audit log once its first record is this many hours old; 0: by size only',
  },
  auditMaxRecordBytes: {
    kind: 'bytes',
    default: 64 * 1024,
    min: 4096,
    description:
      'longest audit record: longer strings in a record are cut to a prefix when written; a longer line found in the log is skipped with a warning',
  },
  keepaliveTimeMs: {
    kind: 'integer',
    default: 60_000,
    min: 1_000,
    description:
      'how often (ms) the server pings each client connection, so a client that vanished without closing (network gone, host asleep) has its streams, scans and links cancelled',
  },
  keepaliveTimeoutMs: {
    kind: 'integer',
    default: 20_000,
    min: 1_000,
    description: 'how long (ms) a keepalive ping may go unanswered before the server closes that connection',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S extends SettingSpec> = S extends { kind: 'list' }
  ? readonly string[]
  : S extends { kind: 'boolean' }
    ? boolean
  : S extends { kind: 'integer' | 'bytes' }
    ? number
    : S extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

export type Config = { readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

export const DEFAULT_CONFIG: Config = Object.freeze(
  Object.fromEntries(Object.entries(SETTINGS).map(([k, s]) => [k, s.default])) as unknown as Config,
);

/** "maxRequestBytes" → "--max-request-bytes" */
export function flagName(name: SettingName): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** "maxRequestBytes" → "BLEDFU_MAX_REQUEST_BYTES" */
export function envName(name: SettingName): string {
  return `BLEDFU_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
