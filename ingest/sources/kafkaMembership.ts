/**
 * A batch handed to the worker, run while this member keeps its consumer group membership.
 *
 * Invariant: when a heartbeat finds the group rebalancing, the worker's revocation finishes
 * before the batch returns to kafkajs, so kafkajs rejoins only after the buffered records of
 * this member are dropped.
 */
import type { Logger } from '../../core/log.js';
import { deliveredLater } from '../../core/promises.js';
import { isRejoinNeeded } from './kafkaErrors.js';

export interface BatchHandling {
  heartbeat(): Promise<void>;
  heartbeatIntervalMs: number;
  onRevoke(): Promise<void>;
  log: Logger;
}

/**
 * Runs `work` (a batch handed to the worker) while keeping the group membership alive: a worker
 * blocked on back-pressure by a slow store would otherwise miss its session timeout and be
 * evicted, which moves its partitions and starts a rebalance storm. A heartbeat that finds the
 * group rebalancing revokes the buffered records before this batch returns, and rethrows, so
 * kafkajs rejoins only after them. The batch ends with a heartbeat of its own for the same reason.
 */
export async function whileKeepingMembership(work: Promise<void>, handling: BatchHandling): Promise<void> {
  let finished = false;
  let rebalance: unknown;
  const settled = work.finally(() => {
    finished = true;
  });
  deliveredLater(settled);
  const beat = async (): Promise<boolean> => {
    try {
      await handling.heartbeat();
      return true;
    } catch (err) {
      if (!isRejoinNeeded(err)) {
        // kafkajs retries its own requests; a connection error here is met again by its next heartbeat.
        handling.log.warn({ event: 'kafka_heartbeat_failed', err }, 'heartbeat failed while a batch was waiting');
        return true;
      }
      rebalance = err;
      await handling.onRevoke();
      return false;
    }
  };
  while (!finished) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<'tick'>((resolve) => {
      timer = setTimeout(() => resolve('tick'), handling.heartbeatIntervalMs);
    });
    const first = await Promise.race([settled.then(() => 'done' as const, () => 'done' as const), tick]);
    clearTimeout(timer);
    if (first === 'done') break;
    if (!(await beat())) break;
  }
  await settled;
  if (rebalance === undefined) await beat();
  if (rebalance !== undefined) throw rebalance;
}
