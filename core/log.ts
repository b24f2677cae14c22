import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; every log line carries a fixed `event` name. */
export function createLogger(level: string, name = 'balances'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
