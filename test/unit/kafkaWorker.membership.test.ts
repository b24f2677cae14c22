/**
 * The consumer side of the Kafka worker: a batch waiting on back-pressure keeps the group
 * membership and lets a rebalance revoke first, and a failed commit tells a lost assignment
 * from a failure that stops the worker.
 */
import { describe, expect, it } from 'vitest';
import { isOwnershipLost } from '../../ingest/sources/kafkaErrors.js';
import { whileKeepingMembership } from '../../ingest/sources/kafkaMembership.js';
import { silentLog } from '../support/store.js';

describe('a batch waiting in the consumer', () => {
  const rebalancing = () => Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });

  it('keeps sending heartbeats while it waits on back-pressure', async () => {
    let beats = 0;
    const work = new Promise<void>((r) => setTimeout(r, 175));
    await whileKeepingMembership(work, { heartbeat: async () => void beats++, heartbeatIntervalMs: 40, onRevoke: async () => undefined, log: silentLog });
    // Every 40 ms while waiting, and once when the batch returns.
    expect(beats).toBeGreaterThanOrEqual(4);
  });

  it('revokes the buffered records when a heartbeat finds the group rebalancing, before the batch returns', async () => {
    const steps: string[] = [];
    let finish: () => void = () => undefined;
    const work = new Promise<void>((r) => (finish = r));
    const handled = whileKeepingMembership(work.then(() => void steps.push('batch returned')), {
      heartbeat: async () => {
        throw rebalancing();
      },
      heartbeatIntervalMs: 20,
      onRevoke: async () => {
        steps.push('revoked');
        finish();
      },
      log: silentLog,
    });
    await expect(handled).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(steps).toEqual(['revoked', 'batch returned']);
  });

  it('ends with a heartbeat, so a rebalance found right after the batch revokes first', async () => {
    const steps: string[] = [];
    const handled = whileKeepingMembership(Promise.resolve(), {
      heartbeat: async () => {
        steps.push('heartbeat');
        throw rebalancing();
      },
      heartbeatIntervalMs: 1_000,
      onRevoke: async () => void steps.push('revoked'),
      log: silentLog,
    });
    await expect(handled).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(steps).toEqual(['heartbeat', 'revoked']);
  });
});

describe('a failed commit', () => {
  it('means the partitions moved when the broker says the generation or member is gone, also behind the client\'s retry wrappers', () => {
    const protocol = (type: string) => Object.assign(new Error(type), { type, name: 'KafkaJSProtocolError' });
    const wrapped = (cause: Error) => Object.assign(new Error(`wrapped: ${cause.message}`), { name: 'KafkaJSNonRetriableError', cause });
    for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) {
      expect(isOwnershipLost(protocol(type))).toBe(true);
      expect(isOwnershipLost(wrapped(protocol(type)))).toBe(true);
    }
    // Anything else stops the worker: authorisation, a broker gone past the retries, a bug.
    expect(isOwnershipLost(wrapped(protocol('GROUP_AUTHORIZATION_FAILED')))).toBe(false);
    expect(isOwnershipLost(Object.assign(new Error('Connection error'), { name: 'KafkaJSNumberOfRetriesExceeded' }))).toBe(false);
    expect(isOwnershipLost(new Error('Consumer group was not initialized'))).toBe(false);
  });
});
