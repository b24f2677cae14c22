/**
 * Past-90-day summaries are one request per card. Scrolling through a thousand cards must not
 * queue a thousand requests ahead of the live balance poll (a browser opens only six connections
 * to a host), so a card asks only once it has stayed on screen for a moment, at most three ask at
 * once, the newest first, and a card that leaves the screen withdraws its request.
 */
const MAX_IN_FLIGHT = 3;
const SETTLE_MS = 150;

interface Job {
  run: (signal: AbortSignal) => Promise<void>;
  controller: AbortController;
  started: boolean;
}

const waiting: Job[] = [];
let inFlight = 0;

function pump(): void {
  while (inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
    const job = waiting.pop() as Job;
    job.started = true;
    inFlight++;
    void job
      .run(job.controller.signal)
      // A card shows its own failure; the queue only moves on.
      .catch((err: unknown) => console.warn('a wallet summary could not be loaded', err))
      .finally(() => {
        inFlight--;
        pump();
      });
  }
}

/** Schedules `run`; the returned function withdraws it, aborting it if it has started. */
export function scheduleSummary(run: (signal: AbortSignal) => Promise<void>): () => void {
  const job: Job = { run, controller: new AbortController(), started: false };
  const timer = setTimeout(() => {
    waiting.push(job);
    pump();
  }, SETTLE_MS);
  return () => {
    clearTimeout(timer);
    const index = waiting.indexOf(job);
    if (index >= 0) waiting.splice(index, 1);
    if (job.started) job.controller.abort();
  };
}
