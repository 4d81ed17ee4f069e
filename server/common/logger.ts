/** Logging is pino everywhere; modules receive a (child) logger, never create a global one. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A logger that drops everything, for tests and library use without logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
