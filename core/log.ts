import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Wherever a request's headers end up in a log line, its API key does not. */
const SECRET_PATHS = ['authorization', 'headers.authorization', 'req.headers.authorization', 'request.headers.authorization', 'err.config.headers.authorization'];

/** Structured JSON logs on stdout; every log line carries a fixed `event` name. */
export function createLogger(level: string, name = 'balances', destination?: DestinationStream): Logger {
  const options = { name, level, base: { pid: process.pid }, redact: { paths: SECRET_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
