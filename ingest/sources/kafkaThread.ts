/**
 * The Kafka source on a thread of its own: kafkajs fetches, inflates and decodes record batches
 * there, and this side of it is a `KafkaSource` like any other.
 *
 * Why: a consumer keeps up only while each fetch follows the last soon enough. On the event loop
 * that also answers HTTP readers, runs the ledger and writes the stream, a fetch round waited
 * behind every callback queued before it: under 32 readers and 5,000 events/s the worker fetched
 * a little slower than records arrived, and 4,300 events (0.85 s of the stream) waited at the broker
 * unfetched (`npm run bench -- load`, "not yet fetched from the broker"). On its own thread the
 * fetch loop turns as soon as the broker answers.
 *
 * Invariants, the same as `createKafkaSource`'s, which runs unchanged on the thread:
 * - the callbacks see what the source saw, in the order it saw it. Batches reach `onBatch` one at
 *   a time, each after the previous returned; a revocation reaches `onRevoke` at once, and the
 *   batches it overtook are dropped unseen, as `onRevoke` would drop them buffered; an assignment
 *   reaches `onAssign` after every batch before it.
 * - a commit is decided on the thread, against the generation the source holds there: a flush cut
 *   under a generation this side has not yet heard has ended is refused there, never sent.
 * - the thread fetches ahead of `onBatch` by at most `AHEAD_BYTES` of record values (and one batch):
 *   past that, the thread's own `onBatch` waits, keeping the group membership as before.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deliveredLater } from '../../core/promises.js';
import type { Logger } from '../../core/log.js';
import type { CommitOffset, DeadLetter, KafkaSource, KafkaSourceOptions, PartitionBatch, SourceCallbacks, TopicPartition } from './kafka.js';

/** Record bytes the thread may fetch ahead of what `onBatch` has taken. */
export const AHEAD_BYTES = 32 * 1024 * 1024;

export type ThreadedKafkaSourceOptions = Omit<KafkaSourceOptions, 'socketFactory'>;

/** What the thread is started with: the source's options, less the logger, which stays here. */
export type ThreadOptions = Omit<ThreadedKafkaSourceOptions, 'log'> & { logLevel: string };

/** An error as it crosses between threads: what callers read of it (name, message, `retriable`, the protocol `type`). */
export interface SentError {
  name: string;
  message: string;
  stack?: string;
  retriable?: boolean;
  type?: string;
  cause?: SentError;
}

export type ToThread =
  | { kind: 'start' | 'disconnect'; id: number }
  | { kind: 'commit'; id: number; offsets: CommitOffset[]; generation: number }
  | { kind: 'dead_letters'; id: number; letters: DeadLetter[] }
  | { kind: 'pause' | 'resume' }
  | { kind: 'taken'; bytes: number }
  | { kind: 'revoked'; id: number };

/** A request of `ToThread` that is answered, less the id the caller gives it. */
type Call = ToThread extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

export type FromThread =
  | { kind: 'reply'; id: number; value?: unknown; error?: SentError }
  | { kind: 'batch'; batch: PartitionBatch; bytes: number }
  | { kind: 'revoke'; id: number }
  | { kind: 'assign'; partitions: TopicPartition[]; generation: number }
  | { kind: 'crashed'; error: SentError }
  | { kind: 'log'; line: string };

export function sendError(err: unknown, depth = 0): SentError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const { retriable, type, cause } = err as { retriable?: unknown; type?: unknown; cause?: unknown };
  return {
    name: err.name,
    message: err.message,
    ...(err.stack ? { stack: err.stack } : {}),
    ...(typeof retriable === 'boolean' ? { retriable } : {}),
    ...(typeof type === 'string' ? { type } : {}),
    ...(cause !== undefined && depth < 5 ? { cause: sendError(cause, depth + 1) } : {}),
  };
}

export function receivedError(sent: SentError): Error {
  const err = new Error(sent.message) as Error & { retriable?: boolean; type?: string };
  err.name = sent.name;
  if (sent.stack) err.stack = sent.stack;
  if (sent.retriable !== undefined) err.retriable = sent.retriable;
  if (sent.type !== undefined) err.type = sent.type;
  if (sent.cause) err.cause = receivedError(sent.cause);
  return err;
}

/** Bytes arrive as Uint8Array views after the crossing; the records hold Buffers again. */
export const asBuffer = (bytes: Uint8Array | null): Buffer | null => (bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** A line the thread's logger wrote, logged again here, so every line of the process goes one way. */
function relog(log: Logger, line: string): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ event: 'kafka_thread_log', line }, 'unreadable log line from the Kafka thread');
    return;
  }
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, name: _name, ...fields } = entry;
  const method = (log.levels.labels[Number(level)] ?? 'info') as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  log[method](fields, typeof msg === 'string' ? msg : '');
}

/**
 * The thread's entry: the compiled module as it is; from TypeScript sources (`npm start`, tests),
 * a bootstrap that registers tsx's loader on the thread first (a worker thread does not take
 * `--import` loaders from the process).
 */
function threadEntry(): { entry: string | URL; eval: boolean } {
  const typescript = import.meta.url.endsWith('.ts');
  const url = new URL(`./kafkaThreadMain.${typescript ? 'ts' : 'js'}`, import.meta.url);
  if (!typescript) return { entry: url, eval: false };
  const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  return { entry: `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`, eval: true };
}

export function createThreadedKafkaSource(options: ThreadedKafkaSourceOptions): KafkaSource {
  const { log, ...rest } = options;
  const threadOptions: ThreadOptions = { ...rest, logLevel: log.level };
  const entry = threadEntry();
  let thread: Worker | undefined;
  let generation = 0;
  let callbacks: SourceCallbacks | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  /** Grows with each revocation: a batch received before one is dropped, not delivered. */
  let epoch = 0;
  /** Deliveries to `onBatch` and `onAssign`, one after another in the order received. */
  let deliveries: Promise<void> = Promise.resolve();
  let exited = false;
  /** `disconnect` ends the thread: its exit then is not a crash. */
  let stopping = false;

  let rejectCrash: (err: Error) => void = () => undefined;
  const crashed = new Promise<Error>((_, reject) => {
    rejectCrash = reject;
  });
  deliveredLater(crashed);

  const send = (message: ToThread) => thread?.postMessage(message);
  const call = <T>(message: Call): Promise<T> => {
    if (!thread || exited) return Promise.reject(new Error('the Kafka thread is not running'));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      send({ ...message, id } as ToThread);
    });
  };

  function failPending(err: Error) {
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  }

  function onMessage(message: FromThread) {
    switch (message.kind) {
      case 'reply': {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(receivedError(message.error));
        else waiter?.resolve(message.value);
        return;
      }
      case 'batch': {
        const receivedIn = epoch;
        const batch = message.batch;
        // The records are this side's own copies: their bytes become Buffers in place.
        for (const r of batch.records) {
          r.key = asBuffer(r.key);
          r.value = asBuffer(r.value);
        }
        deliveries = deliveries.then(async () => {
          try {
            if (receivedIn === epoch && callbacks) await callbacks.onBatch(batch);
          } finally {
            send({ kind: 'taken', bytes: message.bytes });
          }
        });
        deliveries = deliveries.catch((err: unknown) => log.error({ event: 'kafka_batch_delivery_failed', err }, 'a fetched batch could not be handed over'));
        return;
      }
      case 'revoke':
        epoch++;
        void (async () => {
          try {
            await callbacks?.onRevoke();
          } finally {
            send({ kind: 'revoked', id: message.id });
          }
        })().catch(() => undefined);
        return;
      case 'assign':
        generation = message.generation;
        deliveries = deliveries.then(() => callbacks?.onAssign(message.partitions));
        return;
      case 'crashed':
        rejectCrash(receivedError(message.error));
        return;
      case 'log':
        relog(log, message.line);
        return;
    }
  }

  return {
    crashed,
    generation: () => generation,
    async start(handlers) {
      callbacks = handlers;
      thread = new Worker(entry.entry, { eval: entry.eval, workerData: threadOptions });
      // The process's lifetime is its own: `disconnect` ends the thread, and a process that exits
      // without it ends the thread with it.
      thread.unref();
      thread.on('message', onMessage);
      thread.on('error', (err) => {
        failPending(err);
        rejectCrash(err);
      });
      thread.on('exit', (code) => {
        exited = true;
        const err = new Error(stopping ? 'the Kafka thread was stopped' : `the Kafka thread exited (code ${code})`);
        failPending(err);
        if (!stopping) rejectCrash(err);
      });
      await call({ kind: 'start' });
    },
    commit: (offsets, taken) => (offsets.length === 0 ? Promise.resolve(true) : call<boolean>({ kind: 'commit', offsets, generation: taken })),
    sendDeadLetters: (letters) => (letters.length === 0 ? Promise.resolve() : call<void>({ kind: 'dead_letters', letters })),
    pause: () => send({ kind: 'pause' }),
    resume: () => send({ kind: 'resume' }),
    async disconnect() {
      if (!thread || exited) return;
      const running = thread;
      try {
        await call({ kind: 'disconnect' });
      } finally {
        stopping = true;
        await running.terminate();
      }
    },
  };
}
