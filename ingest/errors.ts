import { isRetriable, StageError } from '../core/errors.js';

/** Where in ingest a failure happened: a pipeline step, or the Kafka worker's own work. */
export type IngestStep =
  | 'store_events'
  | 'load_duplicates'
  | 'store_rejections'
  | 'after_store'
  | 'kafka_batch'
  | 'kafka_commit'
  | 'kafka_dead_letters'
  | 'kafka_consumer';

const WHAT_FAILED: Record<IngestStep, string> = {
  store_events: "the batch's events could not be stored",
  load_duplicates: 'the stored copies of duplicate events could not be read',
  store_rejections: "the batch's rejected events could not be stored",
  after_store: 'the state derived from the stored batch could not be brought up to date',
  kafka_batch: 'the Kafka batch could not be stored or committed',
  kafka_commit: "the Kafka batch's offsets could not be committed",
  kafka_dead_letters: "the Kafka batch's dead letters could not be sent",
  kafka_consumer: 'the Kafka consumer stopped',
};

/**
 * The ingest stage's error. Retriable as its cause is: a storage outage or a broker that did not
 * answer (kafkajs flags its errors) may pass, a refused insert or a denied commit will not. A
 * source that gets one acknowledges nothing of the batch, so its events come again.
 */
export class IngestError extends StageError {
  override readonly name: string = 'IngestError';

  constructor(
    readonly step: IngestStep,
    cause: unknown,
  ) {
    super(WHAT_FAILED[step], { retriable: isRetriable(cause), cause });
  }

  /** `err` as the ingest stage's error: an IngestError already stays as it is. */
  static of(step: IngestStep, err: unknown): IngestError {
    return err instanceof IngestError ? err : new IngestError(step, err);
  }
}

/** Runs one step of ingest; its failure is the stage's error, naming the step. */
export async function duringStep<T>(step: IngestStep, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw IngestError.of(step, err);
  }
}
