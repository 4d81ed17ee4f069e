/** Downloading a job's HCI capture (a btsnoop file for Wireshark or `btmon -r`). */
import { callOptions, type BledfuClient, type CallControl } from './client.js';

/**
 * The job's capture as one file: complete once the job has ended, what was recorded so far while
 * it runs. Rejects with NOT_FOUND (code CAPTURE_NOT_FOUND, see decodeError) when it has none.
 */
export async function downloadJobCapture(client: BledfuClient, jobId: string, call: CallControl = {}): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const { chunk } of client.getJobCapture({ jobId }, callOptions(call))) {
    pieces.push(chunk);
  }
  return Buffer.concat(pieces);
}
