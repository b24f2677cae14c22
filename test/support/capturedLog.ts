import { pino, type Logger } from 'pino';

export interface CapturedLog {
  log: Logger;
  /** Every line written so far, parsed. */
  lines: Array<Record<string, unknown>>;
  count(event: string): number;
}

/** A real pino logger whose lines a test can read back, by their fixed `event` names. */
export function capturedLog(level = 'info'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines, count: (event) => lines.filter((l) => l.event === event).length };
}
