/**
 * Where this process's main thread spends its wall time, by layer: V8's sampling CPU profiler
 * (node:inspector) records a stack every millisecond, and each sample goes to the innermost
 * frame that belongs to one of our layers or to a library we know. Node's own internals (streams,
 * Buffer, timers) count for whoever called them. Samples in which the thread was idle are the
 * time the host waited for something outside the process.
 */
import { Session } from 'node:inspector/promises';

export const LAYERS = [
  'waiting (event loop idle)',
  'HCI host stack (HCI, L2CAP, ATT, GATT, adapter)',
  'serial transport (serialport, H4 framing)',
  'DFU engine (secure DFU, package)',
  'jobs, gRPC service and client',
  'garbage collection',
  'other (logging, Node internals, V8)',
] as const;
export type Layer = (typeof LAYERS)[number];

const BY_URL: readonly (readonly [RegExp, Layer])[] = [
  [/\/server\/(host|backends|ble)\//, 'HCI host stack (HCI, L2CAP, ATT, GATT, adapter)'],
  [/\/server\/transport\/|\/node_modules\/(@serialport|serialport)\//, 'serial transport (serialport, H4 framing)'],
  [/\/server\/dfu\//, 'DFU engine (secure DFU, package)'],
  [/\/server\/(jobs|rpc)\/|\/server\/app\.ts|\/clients\/|\/proto\/gen\/|\/node_modules\/(@grpc|nice-grpc[^/]*|protobufjs|@protobufjs|long|abort-controller-x)\//, 'jobs, gRPC service and client'],
];

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export type LayerShares = Record<Layer, number>;

/** Each layer's share (0–1) of the profiled wall time. */
export function attribute(profile: Profile): LayerShares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const layerOf = new Map<number, Layer | 'profiler'>();
  const classify = (leaf: number): Layer | 'profiler' => {
    const known = layerOf.get(leaf);
    if (known !== undefined) return known;
    let layer: Layer | 'profiler' = 'other (logging, Node internals, V8)';
    const name = byId.get(leaf)?.callFrame.functionName;
    if (name === '(idle)') layer = 'waiting (event loop idle)';
    else if (name === '(garbage collector)') layer = 'garbage collection';
    else {
      for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
        const url = byId.get(id)?.callFrame.url ?? '';
        // The profiler's own stop call, sampled on its way out: not the host's work.
        if (url.startsWith('node:inspector')) {
          layer = 'profiler';
          break;
        }
        const hit = BY_URL.find(([re]) => re.test(url));
        if (hit !== undefined) {
          layer = hit[1];
          break;
        }
      }
    }
    layerOf.set(leaf, layer);
    return layer;
  };
  const totals = Object.fromEntries(LAYERS.map((l) => [l, 0])) as LayerShares;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let all = 0;
  // A sample's time delta is the time since the previous sample: it belongs to this one.
  samples.forEach((id, i) => {
    const layer = classify(id);
    if (layer === 'profiler') return;
    const dt = deltas[i] ?? 0;
    totals[layer] += dt;
    all += dt;
  });
  for (const l of LAYERS) totals[l] = all > 0 ? totals[l] / all : 0;
  return totals;
}

/** Runs `work` under the sampling profiler and returns its result with the layer shares. */
export async function profileLayers<T>(work: () => Promise<T>, samplingIntervalUs = 1_000): Promise<{ result: T; shares: LayerShares }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await session.post('Profiler.start');
    const outcome = await work().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
    if (!outcome.ok) throw outcome.error;
    return { result: outcome.value, shares: attribute(profile) };
  } finally {
    session.disconnect();
  }
}
