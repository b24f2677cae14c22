import type { RequestHandler } from 'express';

/**
 * Ingest goes first. The process that serves the API may also consume Kafka, store events and
 * keep the read models current, all on one event loop and a few cores. Reads start at once
 * while ingest keeps up. While it is behind (`KafkaWorker.behind`: a record was fetched, or
 * waits unwritten, a second or more after it was produced), reads start one per turn of the
 * timers, in arrival order, so the consumer's socket, decoding and storage callbacks get their
 * turns and the stream is stored first; a flood of readers then waits a little instead of
 * starving the stream without bound.
 *
 * A read waiting on storage holds nothing back: this paces the starts, not the number in
 * progress. Writes are not paced.
 */
export function readGate(ingestBehind: () => boolean): RequestHandler {
  const waiting: Array<() => void> = [];
  let scheduled = false;
  const turn = () => {
    scheduled = false;
    // Once ingest caught up, everything waiting starts; until then, one per turn.
    do (waiting.shift() as () => void)();
    while (waiting.length > 0 && !ingestBehind());
    if (waiting.length > 0) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(turn, 0);
  };
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (waiting.length === 0 && !ingestBehind()) return next();
    let left = false;
    // A client that left while waiting is not served.
    res.once('close', () => (left = true));
    waiting.push(() => {
      if (!left) next();
    });
    schedule();
  };
}
