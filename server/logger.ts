// Structured relay logs (pino) to stderr: ids, codes and timings only, never keys, tokens or bodies.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.HOTLINE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { svc: 'hotline-relay' }, redact: ['token', 'adminToken', 'envelope.body', 'body'] }, pino.destination(2));
}
