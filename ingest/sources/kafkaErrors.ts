/**
 * What a kafkajs error means for this member's place in the consumer group, read from the
 * protocol error type (never the message text), looking through the client's retry wrappers.
 */

/** Kafka error types which mean this member's assignment is no longer current. */
const OWNERSHIP_LOST = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);
/** What kafkajs treats as "rejoin the group" when a heartbeat answers it. */
const REJOIN = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID']);
/**
 * Errors after which kafkajs leaves the group and does not come back by itself, though joining
 * again is safe: a broker that refused a group request as malformed (librdkafka's broker does so
 * for a SyncGroup that races a member leaving). Nothing is committed that was not stored, so a
 * member that joins again reads the uncommitted records again and dedupe drops what landed.
 */
const REJOINABLE_CRASH = new Set(['INVALID_REQUEST', ...REJOIN]);

/** The protocol error type of a kafkajs error, looking through the retrier's wrappers. */
function kafkaErrorType(err: unknown): string | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isOwnershipLost(err: unknown): boolean {
  return OWNERSHIP_LOST.has(kafkaErrorType(err) ?? '');
}

export function isRejoinNeeded(err: unknown): boolean {
  return REJOIN.has(kafkaErrorType(err) ?? '');
}

export function isRejoinableCrash(err: unknown): boolean {
  return REJOINABLE_CRASH.has(kafkaErrorType(err) ?? '');
}
