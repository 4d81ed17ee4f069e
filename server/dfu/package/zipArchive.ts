/**
 * The zip container of a DFU package, checked byte by byte before any zip library sees it.
 *
 * Why our own reader: a zip library parses the whole central directory before it says anything,
 * so a package padded with hundreds of thousands of empty entries costs seconds of CPU and
 * gigabytes of memory before it can be refused. And zip tools disagree on ambiguous archives
 * (data before or after the archive, two entries with one name, a local header that names
 * another file than the directory, hidden bytes between entries), so a reviewer's unzip could
 * show other files than the ones bledfu flashes. This module reads the End Of Central Directory
 * record, walks at most MAX_ZIP_ENTRIES directory entries and their local headers (work bounded by
 * the entry limit, never by the size of the file) and refuses anything but one plain archive
 * whose every byte is accounted for.
 *
 * Pure: bytes in, a directory or a PACKAGE_INVALID out.
 */
import { packageInvalid } from '../errors.js';

/**
 * The most entries a package may have. A Secure DFU package holds manifest.json and a .bin and a
 * .dat per image, at most three images (SoftDevice, bootloader, application): 7 files. 64 leaves
 * room for folders and notes some tools add, and keeps the work of reading the directory small.
 */
export const MAX_ZIP_ENTRIES = 64;

/** One file of the archive as its central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  /** CRC-32 of the uncompressed bytes, as the central directory states it. */
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** 0 stored, 8 deflated (the only two methods accepted). */
  readonly method: 0 | 8;
}

export interface ZipDirectory {
  readonly entries: readonly ZipEntry[];
}

const SIG = {
  eocd: 0x06054b50,
  zip64Eocd: 0x06064b50,
  zip64Locator: 0x07064b50,
  central: 0x02014b50,
  local: 0x04034b50,
  descriptor: 0x08074b50,
} as const;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Info-ZIP's Unicode Path extra field: a second name for the entry, which tools honour or not. */
const UNICODE_PATH_EXTRA = 0x7075;
const FLAG = { encrypted: 0x0001, descriptor: 0x0008, strongEncryption: 0x0040, utf8: 0x0800, maskedHeaders: 0x2000 } as const;

const REMEDY = 'send the .zip exactly as nrfutil pkg generate or bledfu pkg generate wrote it; do not append to it, edit it in place or re-zip it with other tools';

function refuse(message: string): never {
  throw packageInvalid(`not a plain zip archive: ${message}`, REMEDY);
}

function notAZip(message: string): never {
  throw packageInvalid(`not a readable zip file (${message})`, 'pass the .zip produced by nrfutil pkg generate; the file may be truncated or not a package');
}

/** A name as it may appear in a message: never more than a short prefix of client input. */
function shown(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

class Bytes {
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  has(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.bytes.length;
  }
  u16(offset: number): number {
    return this.#view.getUint16(offset, true);
  }
  u32(offset: number): number {
    return this.#view.getUint32(offset, true);
  }
  /** A 64-bit field; anything beyond 2^53 cannot describe a file we hold in memory. */
  u64(offset: number, what: string): number {
    const v = this.#view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) refuse(`its ${what} (${v}) is impossibly large`);
    return Number(v);
  }
}

/** Where the End Of Central Directory record starts: the one whose comment ends the file. */
function findEocd(b: Bytes): number {
  const len = b.bytes.length;
  if (len < EOCD_SIZE) notAZip(`${len} bytes is too short for a zip file`);
  let signatureSeen = false;
  for (let at = len - EOCD_SIZE; at >= Math.max(0, len - EOCD_SIZE - MAX_COMMENT); at--) {
    if (b.u32(at) !== SIG.eocd) continue;
    signatureSeen = true;
    if (at + EOCD_SIZE + b.u16(at + 20) === len) return at;
  }
  if (signatureSeen) refuse('bytes follow the end of the archive (data appended to the zip)');
  return notAZip('it has no end of central directory record');
}

interface EndRecord {
  readonly entries: number;
  readonly cdOffset: number;
  readonly cdSize: number;
  /** Where the central directory must end: the (zip64) end record. */
  readonly cdEnd: number;
}

function readEnd(b: Bytes): EndRecord {
  const at = findEocd(b);
  const disk = b.u16(at + 4);
  const cdDisk = b.u16(at + 6);
  const onDisk = b.u16(at + 8);
  const entries = b.u16(at + 10);
  if (disk !== 0 || cdDisk !== 0 || onDisk !== entries) refuse('it is split over several disks (a spanned archive)');
  const locator = at - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && b.u32(locator) === SIG.zip64Locator) {
    // Zip64: the 16/32-bit fields may be saturated and the real values are in the zip64 record.
    const record = b.u64(locator + 8, 'zip64 end record offset');
    if (!b.has(record, 56) || b.u32(record) !== SIG.zip64Eocd) refuse('its zip64 end record is missing or misplaced');
    const recordEnd = record + 12 + b.u64(record + 4, 'zip64 end record size');
    if (recordEnd !== locator) refuse('bytes lie between its zip64 end record and its locator');
    if (b.u32(record + 16) !== 0 || b.u32(record + 20) !== 0 || b.u32(locator + 4) !== 0 || b.u32(locator + 16) !== 1) {
      refuse('it is split over several disks (a spanned archive)');
    }
    const total = b.u64(record + 32, 'entry count');
    if (b.u64(record + 24, 'entry count') !== total) refuse('it is split over several disks (a spanned archive)');
    return { entries: total, cdSize: b.u64(record + 40, 'central directory size'), cdOffset: b.u64(record + 48, 'central directory offset'), cdEnd: record };
  }
  return { entries, cdSize: b.u32(at + 12), cdOffset: b.u32(at + 16), cdEnd: at };
}

/** Decodes an entry name and refuses those that could land outside the folder it is unpacked in. */
function entryName(raw: Uint8Array, utf8: boolean): string {
  let name: string;
  if (utf8) {
    try {
      name = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return refuse('an entry name flagged UTF-8 is not valid UTF-8');
    }
  } else {
    // Without the UTF-8 flag the name is CP437 for some tools and UTF-8 for others: only ASCII
    // reads the same everywhere.
    if (raw.some((c) => c < 0x20 || c > 0x7e)) refuse('an entry name has bytes other than printable ASCII and is not flagged UTF-8 (tools would show it differently)');
    name = String.fromCharCode(...raw);
  }
  if (name === '') refuse('an entry has an empty name');
  if (/[\u0000-\u001f\u007f]/.test(name)) refuse(`entry ${shown(name)} has control characters in its name`);
  if (name.startsWith('/') || name.startsWith('\\')) refuse(`entry ${shown(name)} has an absolute path`);
  if (/^[A-Za-z]:/.test(name)) refuse(`entry ${shown(name)} starts with a drive letter`);
  if (name.split(/[\\/]/).includes('..')) refuse(`entry ${shown(name)} has a ".." path segment`);
  return name;
}

function hasExtra(b: Bytes, from: number, length: number, id: number): boolean {
  for (let at = from; at + 4 <= from + length; ) {
    if (b.u16(at) === id) return true;
    at += 4 + b.u16(at + 2);
  }
  return false;
}

interface CentralEntry extends ZipEntry {
  readonly flags: number;
  readonly rawName: Uint8Array;
  readonly localOffset: number;
}

function readCentral(b: Bytes, end: EndRecord): CentralEntry[] {
  const { cdOffset, cdSize, cdEnd } = end;
  if (cdOffset + cdSize > cdEnd) refuse('its central directory overlaps its end record');
  if (cdOffset + cdSize < cdEnd) {
    refuse(`${cdEnd - cdOffset - cdSize} bytes precede the archive or lie between its central directory and its end record`);
  }
  const entries: CentralEntry[] = [];
  let at = cdOffset;
  for (let i = 0; i < end.entries; i++) {
    if (!b.has(at, CENTRAL_SIZE) || at + CENTRAL_SIZE > cdEnd || b.u32(at) !== SIG.central) {
      refuse(`its central directory holds fewer entries than the ${end.entries} its end record states`);
    }
    const flags = b.u16(at + 8);
    const method = b.u16(at + 10);
    const nameLength = b.u16(at + 28);
    const extraLength = b.u16(at + 30);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + b.u16(at + 32);
    if (next > cdEnd) refuse('an entry of its central directory runs past the directory\'s end');
    const rawName = b.bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
    const name = entryName(rawName, (flags & FLAG.utf8) !== 0);
    if ((flags & (FLAG.encrypted | FLAG.strongEncryption | FLAG.maskedHeaders)) !== 0) refuse(`entry ${shown(name)} is encrypted`);
    if (method !== 0 && method !== 8) refuse(`entry ${shown(name)} uses compression method ${method} (only stored and deflated are read)`);
    if (b.u16(at + 34) !== 0) refuse(`entry ${shown(name)} starts on another disk (a spanned archive)`);
    const compressedSize = b.u32(at + 20);
    const uncompressedSize = b.u32(at + 24);
    const localOffset = b.u32(at + 42);
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localOffset === 0xffffffff) {
      refuse(`entry ${shown(name)} has zip64 sizes (no DFU package comes near 4 GiB)`);
    }
    if (hasExtra(b, at + CENTRAL_SIZE + nameLength, extraLength, UNICODE_PATH_EXTRA)) {
      refuse(`entry ${shown(name)} carries a second (Unicode path) name, which zip tools read differently`);
    }
    entries.push({ name, crc32: b.u32(at + 16), compressedSize, uncompressedSize, method, flags, rawName, localOffset });
    at = next;
  }
  if (at !== cdOffset + cdSize) refuse(`its central directory holds more than the ${end.entries} entries its end record states`);
  return entries;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Checks that the local entries tile the file from byte 0 to the central directory: no data
 * before the first entry, none hidden between entries, no two entries sharing bytes, and each
 * local header saying what the directory says (a tool that reads local headers sees the same).
 */
function checkLocal(b: Bytes, entries: readonly CentralEntry[], cdOffset: number): void {
  let expected = 0;
  for (const e of [...entries].sort((x, y) => x.localOffset - y.localOffset)) {
    if (e.localOffset !== expected) {
      if (expected === 0) refuse(`${e.localOffset} bytes precede its first entry (data prepended to the zip)`);
      refuse(e.localOffset < expected ? `entry ${shown(e.name)} overlaps another entry` : `${e.localOffset - expected} unaccounted bytes lie before entry ${shown(e.name)}`);
    }
    const at = e.localOffset;
    if (!b.has(at, LOCAL_SIZE) || b.u32(at) !== SIG.local) refuse(`entry ${shown(e.name)} has no local header where the directory says`);
    const flags = b.u16(at + 6);
    const nameLength = b.u16(at + 26);
    const extraLength = b.u16(at + 28);
    if (!b.has(at + LOCAL_SIZE, nameLength + extraLength) || !sameBytes(b.bytes.subarray(at + LOCAL_SIZE, at + LOCAL_SIZE + nameLength), e.rawName)) {
      refuse(`the local header of entry ${shown(e.name)} names another file`);
    }
    if (b.u16(at + 8) !== e.method || (flags & FLAG.descriptor) !== (e.flags & FLAG.descriptor)) {
      refuse(`the local header of entry ${shown(e.name)} disagrees with the central directory`);
    }
    const sizesHere = (o: number): boolean => b.u32(o) === e.crc32 && b.u32(o + 4) === e.compressedSize && b.u32(o + 8) === e.uncompressedSize;
    if ((flags & FLAG.descriptor) === 0 && !sizesHere(at + 14)) {
      refuse(`the local header of entry ${shown(e.name)} states another CRC or size than the central directory`);
    }
    let end = at + LOCAL_SIZE + nameLength + extraLength + e.compressedSize;
    if ((flags & FLAG.descriptor) !== 0) {
      // The data descriptor after the data, with or without its (optional) signature.
      const signed = b.has(end, 16) && b.u32(end) === SIG.descriptor;
      const fields = signed ? end + 4 : end;
      if (!b.has(fields, 12) || !sizesHere(fields)) refuse(`the data descriptor of entry ${shown(e.name)} disagrees with the central directory`);
      end = fields + 12;
    }
    if (end > cdOffset) refuse(`entry ${shown(e.name)} runs into the central directory`);
    expected = end;
  }
  if (expected !== cdOffset) {
    refuse(entries.length === 0 ? `${cdOffset} bytes precede the archive` : `${cdOffset - expected} unaccounted bytes lie before the central directory`);
  }
}

/**
 * Reads and checks the archive's structure; throws PACKAGE_INVALID before doing work that grows
 * with the number of entries beyond MAX_ZIP_ENTRIES.
 */
export function readZipDirectory(bytes: Uint8Array): ZipDirectory {
  const b = new Bytes(bytes);
  const end = readEnd(b);
  if (end.entries > MAX_ZIP_ENTRIES) {
    throw packageInvalid(
      `the zip has ${end.entries} entries; a DFU package has a manifest and a .bin and a .dat per image, and bledfu reads at most ${MAX_ZIP_ENTRIES}`,
      'check that this is an nrfutil DFU package; remove the files that do not belong in it',
    );
  }
  const entries = readCentral(b, end);
  const seen = new Map<string, string>();
  for (const e of entries) {
    // Case and separator folded too: unpacked on Windows or macOS, such names overwrite each other.
    const key = e.name.replace(/\\/g, '/').toLowerCase();
    const earlier = seen.get(key);
    if (earlier === e.name) refuse(`two entries are named ${shown(e.name)}`);
    if (earlier !== undefined) refuse(`entries ${shown(earlier)} and ${shown(e.name)} differ only in case or path separators`);
    seen.set(key, e.name);
  }
  checkLocal(b, entries, end.cdOffset);
  return { entries: entries.map(({ name, crc32, compressedSize, uncompressedSize, method }) => ({ name, crc32, compressedSize, uncompressedSize, method })) };
}
