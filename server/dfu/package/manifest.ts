/**
 * manifest.json of an nrfutil package (spec §7.2). Only the four Secure DFU image keys are
 * used; unknown keys are ignored, legacy (nrfutil 0.5) manifests are recognised and refused.
 */
import { IMAGE_KINDS, type ImageKind } from './images.js';
import { packageInvalid, packageLegacy } from '../errors.js';

export interface ManifestEntry {
  readonly kind: ImageKind;
  readonly binFile: string;
  readonly datFile: string;
}

/** Keys some custom bootloaders accept for one combined transfer; nrfutil never writes them. */
export const COMBINED_KEYS = ['softdevice_application', 'bootloader_application', 'softdevice_bootloader_application'] as const;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The "manifest" object of manifest.json text; PACKAGE_INVALID when the text is not JSON or has none. */
export function manifestObject(text: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw packageInvalid(`manifest.json is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`, undefined, cause);
  }
  if (!isRecord(json) || !isRecord(json['manifest'])) {
    throw packageInvalid('manifest.json has no "manifest" object');
  }
  return json['manifest'];
}

/**
 * A manifest nrfutil ≤ 0.5 or adafruit-nrfutil wrote for the legacy DFU of nRF5 SDK ≤ 11: it has
 * `dfu_version` next to the images or an `init_packet_data` object in an image (spec §7.2).
 */
export function isLegacyManifest(manifest: Record<string, unknown>): boolean {
  return 'dfu_version' in manifest || Object.values(manifest).some((entry) => isRecord(entry) && 'init_packet_data' in entry);
}

/**
 * The image entries of a manifest (either protocol's), in the order of `kinds`: each with its
 * bin_file and dat_file, refusing the combined-image keys of custom bootloaders, entries that are
 * not objects or lack a file, and a manifest that names no image. Every image of both protocols
 * comes with an init packet (legacy bootloaders from SDK 7 on refuse a transfer without one, and
 * nrfutil always writes it).
 */
export function manifestImageFiles<K extends string>(
  manifest: Readonly<Record<string, unknown>>,
  kinds: readonly K[],
): { readonly kind: K; readonly binFile: string; readonly datFile: string; readonly entry: Readonly<Record<string, unknown>> }[] {
  const combined = COMBINED_KEYS.filter((k) => k in manifest);
  if (combined.length > 0) {
    throw packageInvalid(`manifest uses ${combined.join(', ')}: combined images for custom bootloaders are not supported`);
  }
  const entries: { kind: K; binFile: string; datFile: string; entry: Readonly<Record<string, unknown>> }[] = [];
  for (const kind of kinds) {
    const entry = manifest[kind];
    if (entry === undefined) continue;
    if (!isRecord(entry)) throw packageInvalid(`manifest entry "${kind}" is not an object`);
    const binFile = entry['bin_file'];
    const datFile = entry['dat_file'];
    if (typeof binFile !== 'string' || binFile === '') throw packageInvalid(`manifest entry "${kind}" has no bin_file`);
    if (typeof datFile !== 'string' || datFile === '') throw packageInvalid(`manifest entry "${kind}" has no dat_file`);
    entries.push({ kind, binFile, datFile, entry });
  }
  if (entries.length === 0) {
    throw packageInvalid(`manifest names no image (expected one of ${kinds.join(', ')})`);
  }
  return entries;
}

/** Parses manifest.json text into its entries, in sending order (spec §7.3). */
export function parseManifest(text: string): readonly ManifestEntry[] {
  const manifest = manifestObject(text);
  if (isLegacyManifest(manifest)) {
    throw packageLegacy(
      'this package was made for the legacy DFU of nRF5 SDK ≤ 11 (manifest has dfu_version/init_packet_data); ' +
        'this reader takes Secure DFU packages only (readAnyPackage reads both)',
    );
  }
  return manifestImageFiles(manifest, IMAGE_KINDS).map(({ kind, binFile, datFile }) => ({ kind, binFile, datFile }));
}
