import { isRetriable, StageError } from '../core/errors.js';

/**
 * The aggregator's error: an account whose balances could not be written, or a poll of the
 * accounts that storage did not answer. Retriable as its cause is. The aggregator tries an
 * account again after a pause either way, since its next recomputation starts from storage.
 */
export class AggregatorError extends StageError {
  override readonly name: string = 'AggregatorError';

  constructor(
    message: string,
    cause: unknown,
    /** The account being recomputed, when the failure is one account's. */
    readonly account?: string,
  ) {
    super(message, { retriable: isRetriable(cause), cause });
  }
}
