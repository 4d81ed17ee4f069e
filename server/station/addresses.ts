/**
 * The station's record of its adapters' addresses, for the station-address invariant: every
 * ListAdapters answer an operator got (they look before each attempt, so the record spans the day
 * and every server instance), and at the end what the boards on each simulated air saw connect.
 */
import { AddressSource, AdapterState, AddressType, type Adapter } from '../../clients/ts/index.js';
import type { SimWorld } from '../sim/world.js';
import type { AdapterAddressEvidence, AdapterAddressSample } from './invariants.js';

const TYPE_NAME: Readonly<Record<AddressType, AdapterAddressSample['type']>> = {
  [AddressType.ADDRESS_TYPE_PUBLIC]: 'public',
  [AddressType.ADDRESS_TYPE_RANDOM]: 'random',
  [AddressType.ADDRESS_TYPE_UNSPECIFIED]: 'unspecified',
  [AddressType.UNRECOGNIZED]: 'unspecified',
};

const SOURCE_NAME: Readonly<Record<AddressSource, AdapterAddressSample['source']>> = {
  [AddressSource.ADDRESS_SOURCE_PUBLIC]: 'public',
  [AddressSource.ADDRESS_SOURCE_CONTROLLER_STATIC]: 'controller-static',
  [AddressSource.ADDRESS_SOURCE_GENERATED]: 'generated',
  [AddressSource.ADDRESS_SOURCE_UNSPECIFIED]: 'unspecified',
  [AddressSource.UNRECOGNIZED]: 'unspecified',
};

export class AddressRecord {
  readonly #listed = new Map<string, AdapterAddressSample[]>();

  /** One ListAdapters answer: the adapters it lists ready (an adapter still opening has no address yet). */
  listed(adapters: readonly Adapter[], atMs: number, generation: number): void {
    for (const a of adapters) {
      if (a.state !== AdapterState.ADAPTER_STATE_READY) continue;
      const samples = this.#listed.get(a.id) ?? [];
      samples.push({
        atMs,
        generation,
        value: a.address?.value ?? '',
        type: TYPE_NAME[a.address?.type ?? AddressType.ADDRESS_TYPE_UNSPECIFIED],
        source: SOURCE_NAME[a.addressSource],
      });
      this.#listed.set(a.id, samples);
    }
  }

  /** The evidence of adapter `sim{i}` on worlds[i]; `publicAddress[i]` says whether its dongle has a public address. */
  evidence(worlds: readonly SimWorld[], publicAddress: readonly boolean[]): AdapterAddressEvidence[] {
    return worlds.map((w, i) => ({
      adapterId: `sim${i}`,
      publicAddress: publicAddress[i] ?? true,
      listed: this.#listed.get(`sim${i}`) ?? [],
      seenByDevices: w.air.centralsSeen().map((c) => ({ value: c.address.value, type: c.address.type, links: c.links })),
    }));
  }
}
