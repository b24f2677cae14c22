/**
 * What every stage's error carries, as kafkajs's and clickhouse-js's errors do: whether the same
 * operation may succeed if tried again (`retriable`), and the failure underneath (`cause`). Each
 * stage throws one subclass: StorageError, IngestError, AggregatorError, AlertError, ApiError.
 * The message says what failed; the cause says why, and a log line shows both.
 */
export class StageError extends Error {
  readonly retriable: boolean;

  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options.retriable;
  }
}

/**
 * Whether trying again may succeed. Read from the error's `retriable` flag, which each stage's
 * error sets where it classifies the failure (by error code or status, never by message text),
 * and which kafkajs's errors set too. An error without the flag is not retried.
 */
export function isRetriable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}
