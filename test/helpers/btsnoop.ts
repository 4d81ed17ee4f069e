/**
 * A deliberately independent reader for btsnoop files (written from the format description, not
 * from our writer), plus BlueZ's btmon as a second, external decoder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';

export interface BtsnoopFile {
  readonly version: number;
  readonly datalink: number;
  readonly records: readonly BtsnoopRecord[];
}

export interface BtsnoopRecord {
  readonly originalLength: number;
  readonly flags: number;
  readonly drops: number;
  readonly timestamp: bigint;
  /** H4: packet type octet first. */
  readonly data: Uint8Array;
  readonly sent: boolean;
}

/** Parses a whole file; throws on anything malformed (bad magic, a record cut short). */
export function parseBtsnoop(bytes: Uint8Array): BtsnoopFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (magic !== 'btsnoop\0') throw new Error(`bad btsnoop magic ${JSON.stringify(magic)}`);
  const records: BtsnoopRecord[] = [];
  let at = 16;
  while (at < bytes.length) {
    if (at + 24 > bytes.length) throw new Error(`record header cut short at ${at}`);
    const originalLength = view.getUint32(at);
    const included = view.getUint32(at + 4);
    const flags = view.getUint32(at + 8);
    const drops = view.getUint32(at + 12);
    const timestamp = view.getBigUint64(at + 16);
    if (at + 24 + included > bytes.length) throw new Error(`record data cut short at ${at}`);
    records.push({ originalLength, flags, drops, timestamp, data: bytes.slice(at + 24, at + 24 + included), sent: (flags & 1) === 0 });
    at += 24 + included;
  }
  return { version: view.getUint32(8), datalink: view.getUint32(12), records };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const H4_ACL = 0x02;
const ACL_CONTINUATION = 1;
const ATT_CID = 0x0004;
const ATT_WRITE_COMMAND = 0x52;

export interface AttPdu {
  readonly opcode: number;
  /** The PDU's length (opcode included), from its L2CAP header: whole even when fragmented. */
  readonly length: number;
}

/**
 * The ATT PDUs the host sent, read from the L2CAP header in each PDU's first ACL fragment, so a
 * PDU split over several ACL packets (controllers with small buffers) counts once.
 */
export function attPdusSent(file: BtsnoopFile): AttPdu[] {
  return file.records.flatMap((r) => {
    const d = r.data;
    if (!r.sent || d[0] !== H4_ACL || d.length < 10) return [];
    const pb = ((d[2] as number) >> 4) & 0x3;
    const cid = (d[7] as number) | ((d[8] as number) << 8);
    if (pb === ACL_CONTINUATION || cid !== ATT_CID) return [];
    return [{ opcode: d[9] as number, length: (d[5] as number) | ((d[6] as number) << 8) }];
  });
}

/** Every ATT Write Command the host sent: the DFU's firmware bytes go out as these. */
export const attWriteCommandsSent = (file: BtsnoopFile): AttPdu[] => attPdusSent(file).filter((p) => p.opcode === ATT_WRITE_COMMAND);

/**
 * A job's capture as the server hands it out: H4 datalink, the controller setup from HCI Reset
 * on first, ACL both ways, the firmware in ATT Write Commands, and time never going back.
 */
export function assertDfuCapture(file: BtsnoopFile): void {
  assert.equal(file.datalink, 1002);
  const first = file.records[0];
  assert.ok(first?.sent, 'the first record is a packet the host sent');
  assert.equal(hex(first.data), '01030c00', 'the first packet sent is HCI Reset');
  assert.ok(file.records.some((r) => !r.sent && r.data[0] === H4_ACL), 'ACL received');
  assert.ok(attWriteCommandsSent(file).length > 0, 'the firmware went out as ATT Write Commands');
  for (let i = 1; i < file.records.length; i++) {
    assert.ok((file.records[i]?.timestamp ?? 0n) >= (file.records[i - 1]?.timestamp ?? 0n), `time goes back at record ${i}`);
  }
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

/** The first record holding an ATT Read By Type Request (sent ACL, L2CAP CID 4, opcode 0x08). */
function firstReadByTypeRequest(file: BtsnoopFile): number {
  return file.records.findIndex(
    (r) => r.sent && r.data[0] === 0x02 && r.data.length > 9 && r.data[7] === 0x04 && r.data[8] === 0x00 && r.data[9] === 0x08,
  );
}

/**
 * `btmon -r <file>` output, or undefined when btmon is not installed and CI is unset (under CI a
 * missing btmon fails the test). The process is killed if it runs longer than `timeoutMs`.
 *
 * btmon 5.65 to 5.68 crash (SIGSEGV) reading any file in which an ATT Read By Type Request
 * follows a connection, on a machine without a local Bluetooth controller: the connection is
 * never registered (hci_devba fails) and the ATT decoder dereferences the missing entry (fixed
 * upstream in 5.69, "monitor: Fix not printing latency information with -r"). On those versions
 * only, the file is decoded up to that request.
 */
export async function btmonDecode(path: string, timeoutMs = 20_000): Promise<string | undefined> {
  const args = (p: string): string[] => ['--no-pager', '--color', 'never', '-r', p];
  let result;
  try {
    result = await run('btmon', args(path), timeoutMs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && process.env['CI'] === undefined) return undefined;
    throw e;
  }
  if (result.code === 0) return result.out;
  const version = /\b5\.(\d+)\b/.exec((await run('btmon', ['--version'], timeoutMs)).out)?.[1];
  if (result.signal === 'SIGSEGV' && version !== undefined && Number(version) >= 65 && Number(version) <= 68) {
    const bytes = new Uint8Array(await readFile(path));
    const file = parseBtsnoop(bytes);
    const cut = firstReadByTypeRequest(file);
    if (cut > 0) {
      let end = 16;
      for (const r of file.records.slice(0, cut)) end += 24 + r.data.length;
      const prefix = `${path}.before-read-by-type`;
      await writeFile(prefix, bytes.subarray(0, end));
      try {
        const retry = await run('btmon', args(prefix), timeoutMs);
        if (retry.code === 0) return retry.out;
        throw new Error(`btmon -r exited with ${retry.code ?? retry.signal} even before the first Read By Type Request: ${retry.err}`);
      } finally {
        await rm(prefix, { force: true });
      }
    }
  }
  throw new Error(`btmon -r exited with ${result.code ?? result.signal}: ${result.err}`);
}
