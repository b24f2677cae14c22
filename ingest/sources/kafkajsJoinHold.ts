/**
 * Holding kafkajs's rejoin until this member's writes are done.
 *
 * kafkajs rejoins the group as soon as it learns of a rebalance, and offers no hook to wait
 * first: its runner emits REBALANCING and calls `consumerGroup.joinAndSync()` straight away
 * (kafkajs 2.2.4, src/consumer/runner.js), while this member's flushes may still be writing
 * partitions it is about to lose. Joining is what lets the next owner be assigned, so the member
 * must not join before its writes under way are done (or at least their block ranges are
 * recorded: kafkaBlocks.ts). kafkajs does not expose its ConsumerGroup, so its `joinAndSync` is
 * wrapped once per process, and the wrapper waits only for the consumers that asked: it finds
 * them by their cluster object, which kafkajs hands both to each consumer's partition assigners
 * (ours registers it) and to the consumer's ConsumerGroup. Every path that joins goes through
 * `joinAndSync`: the first join, REBALANCING, UNKNOWN_MEMBER_ID and stale metadata.
 *
 * Invariant: pinned to kafkajs 2.2.4 (package.json). Another version is refused when a source is
 * created, rather than left rejoining without waiting.
 */
import { createRequire } from 'node:module';
import { PartitionAssigners, type PartitionAssigner } from 'kafkajs';

const KAFKAJS_VERSION = '2.2.4';

/** The part of kafkajs's internal ConsumerGroup the hold reads. */
export interface KafkajsConsumerGroup {
  cluster: object;
  generationId?: number;
  joinAndSync(): Promise<void>;
}

/** Awaited before a consumer's group joins, with that group. */
export type BeforeJoin = (group: KafkajsConsumerGroup) => Promise<void>;

const beforeJoin = new WeakMap<object, BeforeJoin>();
let joinsHeld = false;

/** Wraps kafkajs's `joinAndSync` once per process; throws when kafkajs is not the pinned version. */
export function holdJoinsWhereAsked(): void {
  if (joinsHeld) return;
  const require = createRequire(import.meta.url);
  const version = (require('kafkajs/package.json') as { version: string }).version;
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: KafkajsConsumerGroup };
  const joinAndSync = ConsumerGroup.prototype.joinAndSync;
  if (version !== KAFKAJS_VERSION || typeof joinAndSync !== 'function') {
    throw new Error(`the Kafka source holds rejoins through kafkajs ${KAFKAJS_VERSION}'s ConsumerGroup.joinAndSync; kafkajs ${version} is installed`);
  }
  ConsumerGroup.prototype.joinAndSync = async function joinAndSyncOnceWritesAreDone(this: KafkajsConsumerGroup) {
    await beforeJoin.get(this.cluster)?.(this);
    return joinAndSync.call(this);
  };
  joinsHeld = true;
}

/** kafkajs's round-robin assignment, which also tells the join wrapper which consumer this is. */
export function roundRobinHoldingJoins(wait: BeforeJoin): PartitionAssigner {
  return (config) => {
    beforeJoin.set(config.cluster, wait);
    return PartitionAssigners.roundRobin(config);
  };
}
