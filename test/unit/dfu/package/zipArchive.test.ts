/**
 * The zip container checks (server/dfu/package/zipArchive.ts) through readPackage: each archive
 * here is the project's application package rebuilt by test/helpers/zip-builder.ts with one
 * thing wrong, and each must be refused PACKAGE_INVALID before any image is read.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import { hasCode } from '../../../../server/common/errors.js';
import { readPackage } from '../../../../server/dfu/package/package.js';
import { MAX_ZIP_ENTRIES, readZipDirectory } from '../../../../server/dfu/package/zipArchive.js';
import { projectZip } from '../../../helpers/project-packages.js';
import { buildZip, emptyEntries, zipEntries, type BuildEntry } from '../../../helpers/zip-builder.js';

const invalid = (re: RegExp) => (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && re.test(e.message);
const bytes = (n: number, fill = 0x41): Uint8Array => new Uint8Array(n).fill(fill);

describe('zip container checks', () => {
  let entries: BuildEntry[];
  const named = (name: string): BuildEntry => {
    const e = entries.find((x) => x.name === name);
    assert.ok(e, name);
    return e;
  };
  const binName = (): string => entries.find((e) => e.name.endsWith('.bin'))?.name ?? 'no .bin';
  before(async () => {
    entries = await zipEntries(await projectZip('app-small'));
  });

  it('the rebuilt package is read (the builder writes plain archives)', async () => {
    const pkg = await readPackage(buildZip(entries));
    assert.equal(pkg.images.length, 1);
    assert.equal(readZipDirectory(buildZip(entries)).entries.length, entries.length);
  });

  it(`a package with ${MAX_ZIP_ENTRIES} entries is read; one more is refused, naming the count`, async () => {
    const filler = emptyEntries(MAX_ZIP_ENTRIES - entries.length);
    assert.equal((await readPackage(buildZip([...entries, ...filler]))).images.length, 1);
    const over = [...entries, ...emptyEntries(MAX_ZIP_ENTRIES + 1 - entries.length)];
    await assert.rejects(readPackage(buildZip(over)), invalid(new RegExp(`has ${MAX_ZIP_ENTRIES + 1} entries.*at most ${MAX_ZIP_ENTRIES}`)));
  });

  it('a package plus 700 000 empty entries (zip64) is refused by its entry count, also when its end record understates it', async () => {
    const huge = buildZip([...entries, ...emptyEntries(700_000)]);
    assert.ok(huge.length > 60_000_000, `${huge.length} bytes`);
    await assert.rejects(readPackage(huge), invalid(/has 700003 entries/));
    // The same archive with its zip64 end record claiming 3 entries: the directory walk stops at the 4th.
    const record = new DataView(huge.buffer, huge.byteOffset + huge.length - 22 - 20 - 56, 56);
    record.setBigUint64(24, BigInt(entries.length), true);
    record.setBigUint64(32, BigInt(entries.length), true);
    await assert.rejects(readPackage(huge), invalid(new RegExp(`more than the ${entries.length} entries its end record states`)));
  });

  it('bytes before the archive (prepended, offsets as written) are refused', async () => {
    await assert.rejects(readPackage(buildZip(entries, { prefix: bytes(100) })), invalid(/100 bytes precede the archive/));
  });

  it('bytes before the archive (self-extractor style, offsets shifted past them) are refused', async () => {
    await assert.rejects(readPackage(buildZip(entries, { prefix: bytes(100), adjustOffsets: true })), invalid(/100 bytes precede its first entry/));
  });

  it('bytes after the archive are refused', async () => {
    await assert.rejects(readPackage(buildZip(entries, { suffix: bytes(7) })), invalid(/bytes follow the end of the archive/));
    // Even bytes that look like an end record: only the one whose comment ends the file counts.
    const fakeEnd = buildZip([]);
    await assert.rejects(readPackage(buildZip(entries, { suffix: fakeEnd })), invalid(/not a plain zip archive/));
  });

  it('bytes hidden between entries are refused', async () => {
    await assert.rejects(readPackage(buildZip(entries, { gapAfterFirst: 16 })), invalid(/16 unaccounted bytes lie before entry/));
  });

  it('two entries with one name are refused, also when they differ only in case', async () => {
    const evil = { ...named(binName()), data: new Uint8Array(named(binName()).data.length) };
    await assert.rejects(readPackage(buildZip([...entries, evil])), invalid(new RegExp(`two entries are named "${binName().replace('.', '\\.')}"`)));
    await assert.rejects(readPackage(buildZip([...entries, { ...evil, name: binName().toUpperCase() }])), invalid(/differ only in case/));
  });

  for (const name of ['/etc/passwd', '\\windows\\x.bin', 'C:x.bin', 'c:/x.bin', '../x.bin', 'a/../../x.bin', 'a\\..\\x.bin']) {
    it(`an entry named ${JSON.stringify(name)} is refused`, async () => {
      await assert.rejects(readPackage(buildZip([...entries, { name, data: bytes(4) }])), invalid(/absolute path|drive letter|"\.\." path segment/));
    });
  }

  it('an entry whose bytes do not match its CRC-32 is refused, naming the entry', async () => {
    const damaged = entries.map((e) => (e.name === binName() ? { ...e, statedCrc: 0x12345678 } : e));
    await assert.rejects(readPackage(buildZip(damaged)), invalid(new RegExp(`${binName().replace('.', '\\.')} is damaged: .*zip states 0x12345678`)));
    const manifest = entries.map((e) => (e.name === 'manifest.json' ? { ...e, statedCrc: 1 } : e));
    await assert.rejects(readPackage(buildZip(manifest)), invalid(/manifest\.json is damaged/));
  });

  it('a local header naming another file than the central directory is refused', async () => {
    const twisted = entries.map((e) => (e.name === binName() ? { ...e, localName: 'other.bin'.padEnd(e.name.length, 'x') } : e));
    await assert.rejects(readPackage(buildZip(twisted)), invalid(/names another file/));
  });

  it('error messages show at most a short prefix of a long entry name', async () => {
    const name = `${'a'.repeat(5000)}/../x`;
    await assert.rejects(readPackage(buildZip([...entries, { name, data: bytes(1) }])), (e: unknown) => hasCode(e, 'PACKAGE_INVALID') && e.message.length < 300);
  });
});
