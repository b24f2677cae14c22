import { isRetriable } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/**
 * Told of a failure in work that nobody awaits (a refresh behind a served answer, a statistics
 * load). Such a failure is never swallowed: it is logged with its task's name and counted.
 */
export type BackgroundFailure = (task: string, err: unknown) => void;

export function reportBackgroundFailures(log: Logger, metrics: Metrics): BackgroundFailure {
  return (task, err) => {
    metrics.backgroundFailures.inc({ task });
    log.error({ event: 'background_task_failed', task, err, retriable: isRetriable(err) }, `background task ${task} failed`);
  };
}

/** Where no logger is wired (a library used on its own): a process warning on stderr. */
export const warnOnBackgroundFailure: BackgroundFailure = (task, err) => {
  process.emitWarning(`background task ${task} failed: ${err instanceof Error ? err.message : String(err)}`, 'BackgroundFailure');
};
