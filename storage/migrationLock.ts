import { z } from 'zod';
import { StorageError, type Store } from '../core/clickhouse.js';
import { keepRenewed, leaseOwner, type HeldLease } from '../core/lease.js';
import { field, jsonQuery, read } from '../core/query.js';
import { sleep } from '../core/retry.js';
import { toClickHouseTime } from '../core/time.js';
import { clusterClause, everyNodeEngine } from './clusterSql.js';

/**
 * One process at a time migrates a database, across every process that reaches it. The lock is
 * a table: ClickHouse creates a table atomically, so of two processes creating it at once
 * exactly one succeeds. The holder writes its name and a lease into it and renews the lease
 * while it works; a lock whose lease ran out (its holder died) is broken by the next process.
 */
export interface MigrationLockOptions {
  /** How long a lease lasts without renewal. */
  leaseMs?: number;
  /** How long to wait for another holder before giving up. */
  waitMs?: number;
  signal?: AbortSignal;
}

export type HeldLock = HeldLease;

const LOCK_TABLE = 'migration_lock_v1';
const TABLE_ALREADY_EXISTS = '57';
const UNKNOWN_TABLE = '60';

const codeOf = (err: unknown) => String((err as { code?: unknown }).code ?? '');

/** A storage error: the lock's holder is alive and still migrating, so a later start succeeds. */
export class MigrationLockTimeout extends StorageError {
  override readonly name: string = 'MigrationLockTimeout';

  constructor(readonly holder: string, waitedMs: number) {
    super(`another process (${holder}) has held the migration lock for ${Math.round(waitedMs / 1000)} s; try again later`, { retriable: true });
  }
}

export async function acquireMigrationLock(store: Store, options: MigrationLockOptions = {}): Promise<HeldLock> {
  const leaseMs = options.leaseMs ?? 30_000;
  const waitMs = options.waitMs ?? 15 * 60_000;
  const owner = leaseOwner();
  const table = store.table(LOCK_TABLE);
  const started = Date.now();
  let delay = 50;
  for (;;) {
    try {
      // No IF NOT EXISTS: the create is the compare-and-set.
      await store.command(
        `CREATE TABLE ${table}${clusterClause(store.cluster)} (owner String, expires_at DateTime64(3, 'UTC'))
         ENGINE = ${everyNodeEngine(store.cluster, LOCK_TABLE, 'MergeTree')} ORDER BY tuple()`,
      );
      break;
    } catch (err) {
      if (codeOf(err) !== TABLE_ALREADY_EXISTS) throw err;
    }
    const holder = await currentHolder(store, leaseMs);
    if (holder && holder.expiresAt < Date.now()) {
      // The holder stopped renewing: it died mid-migration. Every step of a migration can be
      // done again, so the next process takes over from the start.
      await store.command(`DROP TABLE IF EXISTS ${table}${clusterClause(store.cluster)} SYNC`).catch((err: unknown) => {
        if (codeOf(err) !== UNKNOWN_TABLE) throw err;
      });
      continue;
    }
    if (Date.now() - started > waitMs) throw new MigrationLockTimeout(holder?.owner ?? 'unknown', Date.now() - started);
    await sleep(delay, options.signal);
    if (options.signal?.aborted) throw new StorageError('stopped while waiting for the migration lock', { retriable: false });
    delay = Math.min(1_000, delay * 2);
  }

  const renew = async () => {
    await store.insertJsonEachRow(LOCK_TABLE, JSON.stringify({ owner, expires_at: toClickHouseTime(Date.now() + leaseMs) }) + '\n');
  };
  const acquiredAt = Date.now();
  await renew();
  // A renewal that fails is reported by the next `assertHeld`: the migration stops there. Every
  // step of a migration can be done again, so a later start that takes the lock finishes it. A
  // renewal late behind a long fill does not stop it (on embedded chDB, no other process can
  // reach the store to break the lock).
  const renewal = keepRenewed({ what: 'migration lease', leaseMs, acquiredAt, expires: false }, renew);

  return {
    owner,
    assertHeld: () => renewal.assertHeld(),
    async release() {
      renewal.stop();
      const holder = await currentHolder(store, leaseMs);
      if (holder?.owner === owner) await store.command(`DROP TABLE IF EXISTS ${table}${clusterClause(store.cluster)} SYNC`);
    },
  };
}

/** The lock's latest holder and lease; undefined when there is no lock. */
async function currentHolder(store: Store, leaseMs: number): Promise<{ owner: string; expiresAt: number } | undefined> {
  try {
    const [holder] = await read(store, holderQuery, {});
    if (holder && holder.count > 0) return { owner: holder.owner, expiresAt: holder.expires };
    // Created but not written yet: its creator holds a first lease from the moment it created it.
    const [table] = await read(store, lockCreatedQuery, { db: store.database, name: LOCK_TABLE });
    if (!table) return undefined; // released in between
    return { owner: 'a process starting to migrate', expiresAt: table.created + leaseMs };
  } catch (err) {
    if (codeOf(err) === UNKNOWN_TABLE) return undefined;
    throw err;
  }
}

/** The lock's latest lease and its owner; `count` 0 when no process has written one yet. */
const holderQuery = jsonQuery({
  name: 'migration_lock.holder',
  params: z.object({}),
  sql: (t) => `SELECT argMax(owner, expires_at) AS owner, toUnixTimestamp64Milli(max(expires_at)) AS expires, count() AS count FROM ${t.table(LOCK_TABLE)}`,
  rows: z.object({ owner: field.text, expires: field.int64, count: field.int64 }),
});

/** When the lock table was created; no row once it is dropped. */
const lockCreatedQuery = jsonQuery({
  name: 'migration_lock.created',
  params: z.object({ db: z.string(), name: z.string() }),
  sql: () => 'SELECT toUnixTimestamp(metadata_modification_time) * 1000 AS created FROM system.tables WHERE database = {db:String} AND name = {name:String}',
  rows: z.object({ created: field.int64 }),
});
