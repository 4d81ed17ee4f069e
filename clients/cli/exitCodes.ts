/**
 * Exit codes by failure kind, so scripts can react without parsing text. Derived from the gRPC
 * status (which the server derives from its stable error code), so the table stays small and
 * holds for codes added later. Documented in README.md; keep both in step.
 */
import { Status, type DecodedError } from '../ts/index.js';

export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  notFound: 3,
  deviceRejected: 4,
  linkOrAdapter: 5,
  cancelled: 6,
  serverUnreachable: 7,
  notAuthorised: 8,
  /** `jobs cancel` of a job (`campaign stop` of a campaign) that had already ended: nothing was cancelled. */
  alreadyEnded: 9,
  /**
   * `dfu` / `jobs watch` of a job that ended UP_TO_DATE: the device already had this firmware (or
   * a newer one) and nothing was sent. Not a failure, but not 0 either, so a production-line
   * script can tell "updated now" from "was already done".
   */
  upToDate: 10,
  /**
   * `campaign start` / `campaign watch`: the campaign ended with at least one device FAILED (its
   * retries used up, or a failure retrying cannot change). Its other devices may have been updated.
   */
  campaignFailed: 11,
  /**
   * `campaign start` / `campaign watch`: the campaign ended with devices NOT_DONE (stopped, or its
   * jobs cancelled, before they were done) and none FAILED.
   */
  campaignNotDone: 12,
  /**
   * Ctrl-C stopped the command before the job's outcome was known (`jobs watch`, or `dfu` after a
   * second Ctrl-C): 128 + SIGINT, as shells report an interrupted program.
   */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeFor(error: DecodedError): ExitCode {
  if (error.code === 'SERVER_UNREACHABLE') return EXIT.serverUnreachable;
  // The CLI's own outcomes (no server status behind them).
  if (error.code === 'JOB_ALREADY_ENDED' || error.code === 'CAMPAIGN_ALREADY_ENDED') return EXIT.alreadyEnded;
  if (error.code === 'CAMPAIGN_DEVICES_FAILED') return EXIT.campaignFailed;
  if (error.code === 'CAMPAIGN_NOT_DONE') return EXIT.campaignNotDone;
  if (error.code === 'INTERRUPTED') return EXIT.interrupted;
  // A request gRPC refused for its size: the input is too large (RESOURCE_EXHAUSTED would say "busy").
  if (error.code === 'MESSAGE_TOO_LARGE') return EXIT.usage;
  switch (error.grpcCode) {
    case Status.INVALID_ARGUMENT:
      return EXIT.usage;
    case Status.NOT_FOUND:
      return EXIT.notFound;
    case Status.FAILED_PRECONDITION:
    case Status.DATA_LOSS:
      return EXIT.deviceRejected;
    case Status.UNAVAILABLE:
    case Status.RESOURCE_EXHAUSTED:
    case Status.DEADLINE_EXCEEDED:
      return EXIT.linkOrAdapter;
    case Status.CANCELLED:
      return EXIT.cancelled;
    // The server refused the credentials (no or unknown token) or the token's role lacks the method.
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return EXIT.notAuthorised;
    default:
      return EXIT.other;
  }
}
