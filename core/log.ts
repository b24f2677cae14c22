import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Wherever a request's headers end up in a log line, its API key does not. */
const SECRET_PATHS = ['authorization', 'headers.authorization', 'req.headers.authorization', 'request.headers.authorization', 'err.config.headers.authorization'];

/**
 * Logs on stdout, every line with a fixed `event` name: JSON lines for whatever reads them (a
 * collector, a file, a test), and pretty lines when a person reads them at a terminal.
 */
export function createLogger(level: string, name = 'balances', destination?: DestinationStream): Logger {
  const options = { name, level, base: { pid: process.pid }, redact: { paths: SECRET_PATHS, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (!process.stdout.isTTY || level === 'silent') return pino(options);
  // A transport formats in a worker thread, off the event loop. Its own writes are synchronous,
  // so once `flushLogs` has the worker's answer every line logged before it is on the terminal.
  const pretty = pino.transport({
    target: 'pino-pretty',
    options: { sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
  }) as DestinationStream;
  return pino(options, pretty);
}

/** Resolves once every line logged so far has been written, so what follows on stdout comes after it. */
export function flushLogs(log: Logger): Promise<void> {
  return new Promise((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
}
