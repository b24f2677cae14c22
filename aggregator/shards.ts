/** One of `count` aggregators, numbered from 0. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * The aggregator that owns an account: a stable hash of its id (FNV-1a, 32 bits), so every
 * process agrees without talking, and an account keeps its owner across restarts.
 */
export function shardOf(accountId: string, count: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(accountId, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}
