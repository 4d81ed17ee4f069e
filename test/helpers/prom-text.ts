/**
 * Reads the Prometheus text exposition format (what GET /metrics answers) into samples, so tests
 * assert on what a scraper would see rather than on prom-client's objects.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** `# TYPE` lines: metric name → counter, gauge, histogram, … */
  readonly types: ReadonlyMap<string, string>;
  /**
   * The value of the one sample named `name` whose labels include `labels`; undefined when none
   * matches, an error when several do (the test's selector is too loose).
   */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Sum over every sample named `name` whose labels include `labels`. */
  sum(name: string, labels?: Readonly<Record<string, string>>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (m === null || LABEL.lastIndex === at) throw new Error(`bad labels in metrics line: ${line}`);
    out[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function parseValue(text: string, line: string): number {
  // Scrapers parse these case-insensitively (prom-client writes "Nan").
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  const v = Number(text);
  if (Number.isNaN(v)) throw new Error(`bad value in metrics line: ${line}`);
  return v;
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t !== null) types.set(t[1] as string, t[2] as string);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a metrics line: ${line}`);
    samples.push({ name: m[1] as string, labels: m[2] === undefined ? {} : parseLabels(m[2], line), value: parseValue(m[3] as string, line) });
  }
  const matching = (name: string, labels: Readonly<Record<string, string>>): Sample[] =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    value(name, labels = {}) {
      const found = matching(name, labels);
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
    sum(name, labels = {}) {
      return matching(name, labels).reduce((n, s) => n + s.value, 0);
    },
  };
}

/** GET http://<address>/metrics, parsed; fails on anything but 200 with the Prometheus text type. */
export async function scrape(address: string): Promise<Exposition> {
  const res = await fetch(`http://${address}/metrics`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${body}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`GET /metrics: content type ${type}`);
  return parseExposition(body);
}
