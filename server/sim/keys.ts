/**
 * Public keys a simulated bootloader can trust. The default is the project's own demo key
 * (`bledfu-demo`), whose private half is published in demo/bledfu-demo-key.pem so the demo and
 * the tests can sign the packages they make. Nordic's debug keys stay selectable by name
 * (`sim:?key=sdk17.0.2`) for Nordic's own signed packages: their PEM texts are those of the shared
 * reference fixtures (../shared/fixtures/dfu/*.pem, written from each release's `pk[]` array in
 * examples/dfu/dfu_public_key.c and cross-checked against the precompiled debug bootloaders; see
 * that folder's README.md §2). They are written out here because shipped code must not read test data.
 */
import { BledfuError } from '../common/errors.js';

export const SIM_PUBLIC_KEYS = {
  /**
   * The project's demo key (`pk[]` starts d4e4fcc0…). Its private key is published
   * (demo/bledfu-demo-key.pem), so anyone can sign for it: like Nordic's debug keys, it is for the
   * simulator and the demo only, never for a real bootloader.
   */
  'bledfu-demo': `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESwklWl+27blBxQAqDvwYUHXQNlaK
I8NdZ6QcEMD85NSInso+4ED3Y95OQlpNwDQnrCe3UJ9NbA/dLYSfiaANIA==
-----END PUBLIC KEY-----
`,
  /** nRF5 SDK 17.0.2 debug bootloader key (`pk[]` starts 357f66a3…); the DK image's bootloader. */
  'sdk17.0.2': `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+Kt6IKvc5ha+cy9hvEEaUWsqb7/y
gZBA3pvylqNmfzUeshNHKw3ZWRgdiB4+nNh0ljleUOgwg4S5Y+dHxLiSgw==
-----END PUBLIC KEY-----
`,
  /** nRF5 SDK 16.0.0 debug key (`1b0cae9f…`); signs pc-nrfutil's blinky_mbr_sdk160 package. */
  'sdk16.0.0': `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEN59yJQ3SKh2gHN6sWNL7Y5T8r+cY
uqCFoWCAIp+uDBtKlecu/8doybUGzTvs+AKCCZ4NYr5dcIVEIZIL9sQAVw==
-----END PUBLIC KEY-----
`,
  /** nRF5 SDK 14.2.0 debug key (`f61473df…`). */
  'sdk14.2.0': `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWt3HN110bPYZs26detUc9VWnHhI5
F45CDN0N5t9zFPZ55SsfBQH6xSpsMvjLQSsEITAHxFcBztekptor/UT6zg==
-----END PUBLIC KEY-----
`,
  /** nRF5 SDK 12.2.0 debug key (`9a58c0ff…`). */
  'sdk12.2.0': `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0EdPt1WCcqMdVukbgPhPZuU+ypz8
BcJBiUt/6//AWJoTlRAOKp/zsTolwEBpfw85bHOMNchcmLiUFkSjgg08JA==
-----END PUBLIC KEY-----
`,
  /** Key of the bootloaders of NordicSemiconductor/IOS-DFU-Library's test firmwares (`3bbde10e…`). */
  iosdfu: `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELMjbSVjTHTZmAkDsmfsF4OVoRmlh
/s+cU7fJMQ7hvTs0OCMA4JIMnMr1jz3JIgWNwaSYfkwAJpgcErkEBXOXLA==
-----END PUBLIC KEY-----
`,
} as const satisfies Record<string, string>;

export type SimKeyName = keyof typeof SIM_PUBLIC_KEYS;

/** Packages the project makes (demo, tests) are signed with the demo key; Nordic's need `key=…`. */
export const DEFAULT_SIM_KEY: SimKeyName = 'bledfu-demo';

export function isSimKeyName(name: string): name is SimKeyName {
  return Object.hasOwn(SIM_PUBLIC_KEYS, name);
}

/** A key by name, or PEM text passed through. */
export function simPublicKey(nameOrPem: string): string {
  if (isSimKeyName(nameOrPem)) return SIM_PUBLIC_KEYS[nameOrPem];
  if (nameOrPem.includes('BEGIN PUBLIC KEY')) return nameOrPem;
  throw new BledfuError('INVALID_ARGUMENT', `unknown simulator key "${nameOrPem}"`, {
    layer: 'sim',
    remedy: `use one of ${Object.keys(SIM_PUBLIC_KEYS).join(', ')}, or PEM text`,
  });
}
