import type { RequestHandler } from 'express';

/**
 * Reads start at most `perTurn` at a time on each turn of the event loop's timers. The process
 * that serves the API also consumes Kafka, stores events and keeps read models current, all on
 * one event loop: with dozens of readers at once, each turn would run dozens of read handlers
 * back to back, and the consumer's socket (a turn for every chunk of a fetch) and storage
 * callbacks would wait behind all of them; on a small machine events arriving steadily then
 * fell behind without bound. With reads started a few per turn, a busy loop starts fewer of
 * them and everything else keeps its turns. A read waiting on storage holds nothing back:
 * this paces the starts, not the number in progress. Writes are not paced.
 */
export function readGate(perTurn: number): RequestHandler {
  const waiting: Array<() => void> = [];
  let scheduled = false;
  const turn = () => {
    scheduled = false;
    for (let started = 0; started < perTurn && waiting.length > 0; started++) (waiting.shift() as () => void)();
    if (waiting.length > 0) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(turn);
  };
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    let left = false;
    // A client that left while waiting is not served.
    res.once('close', () => (left = true));
    waiting.push(() => {
      if (!left) next();
    });
    schedule();
  };
}
