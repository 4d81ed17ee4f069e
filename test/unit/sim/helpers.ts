/** Shared builders for the simulator's unit tests. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readPackage } from '../../../server/dfu/package/package.js';
import type { PackageImage } from '../../../server/dfu/types.js';
import { NrfChip } from '../../../server/sim/devices/chip.js';
import { DfuTarget, type DfuTargetConfig } from '../../../server/sim/devices/dfuTarget.js';
import { loadPolicyKey } from '../../../server/sim/devices/initValidation.js';
import { SIM_PUBLIC_KEYS, type SimKeyName } from '../../../server/sim/keys.js';

const fixtures = fileURLToPath(new URL('../../fixtures/dfu/', import.meta.url));

export async function fixtureImages(name: string): Promise<readonly PackageImage[]> {
  const pkg = await readPackage(new Uint8Array(readFileSync(`${fixtures}${name}`)));
  return pkg.images;
}

export async function fixtureImage(name: string, index = 0): Promise<PackageImage> {
  const image = (await fixtureImages(name))[index];
  if (image === undefined) throw new Error(`${name} has no image ${index}`);
  return image;
}

export function targetConfig(key: SimKeyName = 'sdk17.0.2', over: Partial<DfuTargetConfig> = {}): DfuTargetConfig {
  return {
    hwVersion: 52,
    debug: true,
    requireSignedApp: true,
    publicKey: loadPolicyKey(SIM_PUBLIC_KEYS[key]),
    maxInitPacket: 512,
    dataObjectMax: 4096,
    progressOnDisconnect: 'keep',
    sha256BytesPerMs: 20_000,
    ...over,
  };
}

export function newTarget(key: SimKeyName = 'sdk17.0.2', over: Partial<DfuTargetConfig> = {}): { chip: NrfChip; target: DfuTarget } {
  const chip = new NrfChip();
  return { chip, target: new DfuTarget(chip, targetConfig(key, over)) };
}
