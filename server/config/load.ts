/**
 * Builds the one frozen Config from defaults < JSON file < environment < flags. The caller
 * hands in argv, env and a file reader, so this module never touches the process itself.
 */
import { BledfuError } from '../common/errors.js';
import { envName, flagName, SETTINGS, type Config, type SettingName, type SettingSpec } from './settings.js';

export interface ConfigSources {
  /** Arguments after the program name. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads the JSON config file named by --config / BLEDFU_CONFIG. */
  readonly readFile: (path: string) => string;
}

export type LoadResult = { readonly kind: 'config'; readonly config: Config } | { readonly kind: 'help'; readonly text: string };

const NAMES = Object.keys(SETTINGS) as SettingName[];
const CONFIG_FLAG = '--config';
const CONFIG_ENV = 'BLEDFU_CONFIG';

function invalid(message: string): BledfuError {
  return new BledfuError('INVALID_ARGUMENT', message, { layer: 'config', remedy: 'run `bledfud --help` for the settings' });
}

const BYTE_SUFFIX: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function parseText(name: SettingName, spec: SettingSpec, text: string, origin: string): Config[SettingName] {
  const where = `${name} (from ${origin})`;
  switch (spec.kind) {
    case 'string':
      if (text.trim() === '') throw invalid(`${where} must not be empty`);
      return text.trim();
    case 'path':
      return text.trim();
    case 'boolean': {
      const v = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      throw invalid(`${where} must be true or false, got "${text}"`);
    }
    case 'hostPort':
      if (spec.optional === true && text.trim() === '') return '';
      return checkHostPort(where, text.trim());
    case 'list':
      return checkPrefixes(
        where,
        spec.prefixes,
        text
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      );
    case 'integer': {
      if (!/^\d+$/.test(text.trim())) throw invalid(`${where} must be a whole number, got "${text}"`);
      return checkMin(where, spec.min, Number(text.trim()));
    }
    case 'bytes': {
      const m = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
      if (m === null) throw invalid(`${where} must be a byte count like 1048576 or 64M, got "${text}"`);
      return checkMin(where, spec.min, Number(m[1]) * (BYTE_SUFFIX[(m[2] ?? '').toUpperCase()] ?? 1));
    }
    case 'enum':
      if (!spec.values.includes(text)) throw invalid(`${where} must be one of ${spec.values.join(', ')}, got "${text}"`);
      return text as Config[SettingName];
  }
}

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

function checkHostPort(where: string, value: string): string {
  const port = HOST_PORT.exec(value)?.[1];
  if (port === undefined || Number(port) > 65535) {
    throw invalid(`${where} must be host:port with a port from 0 to 65535 (an IPv6 host in brackets), got "${value}"`);
  }
  return value;
}

function checkPrefixes(where: string, prefixes: readonly string[] | undefined, items: readonly string[]): readonly string[] {
  for (const item of items) {
    if (prefixes !== undefined && !prefixes.some((p) => item.toLowerCase().startsWith(p))) {
      throw invalid(`${where}: unknown adapter spec "${item}"; a spec starts with one of ${prefixes.join(', ')}`);
    }
  }
  return Object.freeze([...items]);
}

function checkMin(where: string, min: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw invalid(`${where} must be at least ${min}`);
  return value;
}

function fromJson(name: SettingName, spec: SettingSpec, value: unknown, origin: string): Config[SettingName] {
  if (spec.kind === 'list') {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`${name} (from ${origin}) must be a list of strings`);
    return checkPrefixes(`${name} (from ${origin})`, spec.prefixes, value as string[]);
  }
  if (typeof value === 'number' && (spec.kind === 'integer' || spec.kind === 'bytes')) return parseText(name, spec, String(value), origin);
  if (typeof value === 'boolean' && spec.kind === 'boolean') return value;
  if (typeof value === 'string') return parseText(name, spec, value, origin);
  throw invalid(`${name} (from ${origin}) has the wrong type`);
}

interface ParsedArgs {
  readonly values: Map<SettingName, string>;
  readonly configPath: string | undefined;
  readonly help: boolean;
}

function parseArgs(argv: readonly string[]): ParsedArgs {
  const byFlag = new Map(NAMES.map((n) => [flagName(n), n] as const));
  const values = new Map<SettingName, string>();
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const takeValue = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw invalid(`${flag} needs a value`);
      return next;
    };
    if (flag === CONFIG_FLAG) {
      configPath = takeValue();
      continue;
    }
    const name = byFlag.get(flag);
    if (name === undefined) throw invalid(`unknown option "${arg}"`);
    // A switch takes no separate value: `--insecure`, or `--insecure=false`.
    values.set(name, SETTINGS[name].kind === 'boolean' && eq < 0 ? 'true' : takeValue());
  }
  return { values, configPath, help };
}

export function loadConfig(sources: ConfigSources): LoadResult {
  const args = parseArgs(sources.argv);
  if (args.help) return { kind: 'help', text: helpText() };

  const config: Record<string, unknown> = {};
  for (const name of NAMES) config[name] = SETTINGS[name].default;

  const path = args.configPath ?? sources.env[CONFIG_ENV];
  if (path !== undefined && path !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(sources.readFile(path));
    } catch (e) {
      throw new BledfuError('INVALID_ARGUMENT', `cannot read config file ${path}: ${(e as Error).message}`, {
        layer: 'config',
        cause: e,
        remedy: 'the config file is a JSON object whose keys are the setting names shown by --help',
      });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(`config file ${path} must hold a JSON object`);
    for (const [key, value] of Object.entries(parsed)) {
      if (!(key in SETTINGS)) throw invalid(`unknown setting "${key}" in config file ${path}`);
      const name = key as SettingName;
      config[name] = fromJson(name, SETTINGS[name], value, path);
    }
  }
  for (const name of NAMES) {
    const text = sources.env[envName(name)];
    if (text !== undefined && text !== '') config[name] = parseText(name, SETTINGS[name], text, envName(name));
  }
  for (const [name, text] of args.values) config[name] = parseText(name, SETTINGS[name], text, flagName(name));

  return { kind: 'config', config: Object.freeze(config) as Config };
}

function formatDefault(spec: SettingSpec): string {
  switch (spec.kind) {
    case 'list':
      return spec.default.join(',');
    case 'hostPort':
    case 'integer':
    case 'bytes':
    case 'string':
    case 'path':
    case 'boolean':
    case 'enum':
      return String(spec.default);
  }
}

/** The settings table printed by `bledfud --help`. */
export function helpText(): string {
  const rows: (readonly [string, string, string, string])[] = NAMES.map((n) => {
    const spec: SettingSpec = SETTINGS[n];
    return [spec.kind === 'boolean' ? flagName(n) : `${flagName(n)} <value>`, envName(n), formatDefault(spec), spec.description] as const;
  });
  rows.unshift([`${CONFIG_FLAG} <file>`, CONFIG_ENV, '', 'JSON object file; keys are the setting names listed above']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length), 'default'.length);
  const line = (r: readonly string[]): string =>
    `  ${(r[0] ?? '').padEnd(w0)}  ${(r[1] ?? '').padEnd(w1)}  ${(r[2] ?? '').padEnd(w2)}  ${r[3] ?? ''}`;
  return [
    'Usage: bledfud [options]',
    '',
    'bledfu server: owns Bluetooth LE adapters and firmware-updates Nordic nRF5 devices over gRPC.',
    'Precedence: flags > environment > config file > defaults. Config file keys: ' + NAMES.join(', ') + '.',
    '',
    line(['flag', 'environment', 'default', 'description']),
    ...rows.map(line),
    '',
  ].join('\n');
}
