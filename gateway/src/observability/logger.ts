/**
 * Structured JSON logs (pino). Level from LOG_LEVEL (default info). Nothing is logged per proxied
 * request at info: the data plane logs state changes, not traffic.
 */
import { pino, type Logger } from 'pino';

export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name: 'canary-gateway', level, base: { pid: process.pid } });
}

export type { Logger };
