/** Shared builders for the simulator's unit tests. */
import { readPackage } from '../../../server/dfu/package/package.js';
import type { PackageImage } from '../../../server/dfu/types.js';
import { NrfChip } from '../../../server/sim/devices/chip.js';
import { DfuTarget, type DfuTargetConfig } from '../../../server/sim/devices/dfuTarget.js';
import { loadPolicyKey } from '../../../server/sim/devices/initValidation.js';
import { SIM_PUBLIC_KEYS, type SimKeyName } from '../../../server/sim/keys.js';
import { sharedFixture } from '../../helpers/shared-packages.js';
import { projectZip, type ProjectPackageName } from '../../helpers/project-packages.js';

/** The images of one of Nordic's packages in ../shared/fixtures/dfu (tests that read it take NEEDS_NORDIC_PACKAGES). */
export async function fixtureImages(name: string): Promise<readonly PackageImage[]> {
  const pkg = await readPackage(sharedFixture(name));
  return pkg.images;
}

/** An image of one of the project's packages (demo firmware, demo key), as the package reader gives it. */
export async function projectPackageImage(name: ProjectPackageName, index = 0): Promise<PackageImage> {
  const image = (await readPackage(await projectZip(name))).images[index];
  if (image === undefined) throw new Error(`project package ${name} has no image ${index}`);
  return image;
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
