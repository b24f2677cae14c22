/**
 * The Kafka thread (kafkaThread.ts says why and what it keeps): `createKafkaSource` on its own event
 * loop, its callbacks and calls carried as messages to and from the process's main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../core/log.js';
import { createKafkaSource, type DeadLetter, type KafkaRecord } from './kafka.js';
import { AHEAD_BYTES, asBuffer, sendError, type FromThread, type ThreadOptions, type ToThread } from './kafkaThread.js';

const port = parentPort;
if (!port) throw new Error('kafkaThreadMain runs as a worker thread');
const post = (message: FromThread) => port.postMessage(message);

const { logLevel, ...options } = workerData as ThreadOptions;
const log = createLogger(logLevel, 'balances', { write: (line: string) => post({ kind: 'log', line }) });
const source = createKafkaSource({ ...options, log });
source.crashed.catch((err: unknown) => post({ kind: 'crashed', error: sendError(err) }));

/** Record bytes handed over and not yet taken by the main thread's `onBatch`. */
let ahead = 0;
let caughtUp: Array<() => void> = [];
let nextRevoke = 1;
const revocations = new Map<number, () => void>();

const bytesOf = (records: KafkaRecord[]) => records.reduce((sum, r) => sum + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0);

async function answer(id: number, work: () => Promise<unknown>) {
  try {
    post({ kind: 'reply', id, value: await work() });
  } catch (err) {
    post({ kind: 'reply', id, error: sendError(err) });
  }
}

port.on('message', (message: ToThread) => {
  switch (message.kind) {
    case 'start':
      void answer(message.id, () =>
        source.start({
          async onBatch(batch) {
            const bytes = bytesOf(batch.records);
            ahead += bytes;
            post({ kind: 'batch', batch, bytes });
            // The next fetch of this partition waits while too much is handed over and not taken.
            while (ahead > AHEAD_BYTES && ahead > bytes) await new Promise<void>((resolve) => caughtUp.push(resolve));
          },
          onRevoke() {
            const id = nextRevoke++;
            return new Promise<void>((resolve) => {
              revocations.set(id, resolve);
              post({ kind: 'revoke', id });
            });
          },
          onAssign(partitions) {
            post({ kind: 'assign', partitions, generation: source.generation() });
          },
        }),
      );
      return;
    case 'taken': {
      ahead -= message.bytes;
      const waiters = caughtUp;
      caughtUp = [];
      for (const resolve of waiters) resolve();
      return;
    }
    case 'revoked':
      revocations.get(message.id)?.();
      revocations.delete(message.id);
      return;
    case 'commit':
      void answer(message.id, () => source.commit(message.offsets, message.generation));
      return;
    case 'dead_letters':
      void answer(message.id, () =>
        source.sendDeadLetters(message.letters.map((l: DeadLetter) => ({ ...l, record: { ...l.record, key: asBuffer(l.record.key), value: asBuffer(l.record.value) } }))),
      );
      return;
    case 'pause':
      source.pause();
      return;
    case 'resume':
      source.resume();
      return;
    case 'disconnect':
      void answer(message.id, () => source.disconnect());
      return;
  }
});
