/**
 * The audit log's lines as the station's checks read them (start and end records reduced to the
 * job, its labels, its result, its DFU protocol and the serial it read), from the file itself: the RPC folds a
 * start and its end into one record, and the checks must see a second start or end.
 */
import { readFileSync } from 'node:fs';
import { parseRecord } from '../audit/records.js';
import type { AuditLine } from './invariants.js';

export function readAuditLines(path: string): AuditLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((line): AuditLine[] => {
      const r = parseRecord(line);
      if (r === undefined) return [];
      const labels = r.labels === undefined ? {} : { labels: r.labels };
      const protocol = r.protocol === undefined ? {} : { protocol: r.protocol };
      if (r.type === 'start') return [{ type: 'start' as const, jobId: r.jobId, ...labels, ...protocol }];
      // The serial as the job reported it: "" for a device met in its bootloader (empty Device Information).
      const info = r.deviceInfo;
      return [{ type: 'end' as const, jobId: r.jobId, result: r.result, ...labels, ...protocol, ...(info === undefined ? {} : { serialNumber: info.serialNumber ?? '' }) }];
    });
}
