// Structured relay logs (pino) to stderr: ids, codes and timings only, never keys, tokens, passphrases or bodies.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.HOTLINE_LOG_LEVEL ?? 'info'): Logger {
  // Redaction is a second line of defence: no log call passes a token, a passphrase or a request's headers.
  const redact = [
    'token',
    'adminToken',
    'metricsToken',
    'passphrase',
    'authorization',
    'headers.authorization',
    'req.headers.authorization',
    'tls.key',
    'envelope.body',
    'body',
  ];
  return pino({ level, base: { svc: 'hotline-relay' }, redact }, pino.destination(2));
}
