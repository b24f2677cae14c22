import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { keepRenewed, LeaseLost, leaseOwner, type HeldLease } from '../core/lease.js';
import { field, jsonQuery, read } from '../core/query.js';
import { toClickHouseTime } from '../core/time.js';

/**
 * The evaluator's lease: of every API process reaching a store, the one holding it evaluates
 * alerts and delivers them, and the others wait. The lease runs in terms (`alert_leases_v1`,
 * migration 026). A process claims term N + 1 once term N ran out, with an insert whose
 * deduplication token names the term: storage keeps exactly one row of two claims of the same
 * term, and the owner of that row holds it. Terms only grow, so a claim made from a stale read
 * can never take back a term already given. The holder renews its term every third of the
 * lease; a holder that dies stops renewing, and the next process claims the next term once the
 * lease ran out. Releasing gives the next term to nobody, so another process claims at once.
 * Expiry is read on each process's own clock: the processes' clocks must agree to well within
 * the lease (30 s by default). A holder trusts its term only until the expiry it last wrote
 * (core/lease.ts), so a holder that stalls past it stops before its next account or delivery.
 */
const TABLE = 'alert_leases_v1';
const EVALUATOR = 'evaluator';
/** The evaluator's lease covers every account. */
const ALL_ACCOUNTS = '';

export interface EvaluatorLease extends HeldLease {
  term: number;
}

/** A lease's newest term and its holder; with two rows in one term (a claim past the window), the lower owner. */
const leaseQuery = jsonQuery({
  name: 'alerts.lease',
  params: z.object({ account: z.string(), lease: z.string() }),
  sql: (t) =>
    `SELECT term, owner, toUnixTimestamp64Milli(max(expires_at)) AS expires FROM ${t.table(TABLE)}
     WHERE account_id = {account:String} AND lease = {lease:String}
     GROUP BY term, owner ORDER BY term DESC, owner LIMIT 1`,
  rows: z.object({ term: field.int64, owner: field.text, expires: field.int64 }),
});

async function currentTerm(store: Store) {
  const [term] = await read(store, leaseQuery, { account: ALL_ACCOUNTS, lease: EVALUATOR });
  return term;
}

/** Writes `owner`'s lease on `term` until `expiresAt`; a claim carries the term's token. */
async function writeTerm(store: Store, term: number, owner: string, expiresAt: number, claim: boolean): Promise<void> {
  await store.insertJsonEachRow(
    TABLE,
    JSON.stringify({ account_id: ALL_ACCOUNTS, lease: EVALUATOR, term, owner, expires_at: toClickHouseTime(expiresAt) }) + '\n',
    claim ? { deduplicationToken: `alert-lease-${EVALUATOR}-${term}` } : undefined,
  );
}

/** Claims the evaluator's lease for `leaseMs`, renewed until released; undefined while another process holds it. */
export async function acquireEvaluatorLease(store: Store, leaseMs: number): Promise<EvaluatorLease | undefined> {
  const current = await currentTerm(store);
  if (current && current.expires > Date.now()) return undefined;
  const term = (current?.term ?? 0) + 1;
  const owner = leaseOwner();
  const acquiredAt = Date.now();
  await writeTerm(store, term, owner, acquiredAt + leaseMs, true);
  const winner = await currentTerm(store);
  if (winner?.term !== term || winner.owner !== owner) return undefined;

  const held = async () => {
    const now = await currentTerm(store);
    if (now?.term !== term || now.owner !== owner) throw new LeaseLost(`another process holds the alert evaluator lease (term ${now?.term ?? 0})`);
  };
  const renewal = keepRenewed({ what: 'alert evaluator lease', leaseMs, acquiredAt, expires: true }, async () => {
    await held();
    await writeTerm(store, term, owner, Date.now() + leaseMs, false);
  });
  return {
    owner,
    term,
    assertHeld: () => renewal.assertHeld(),
    async release() {
      renewal.stop();
      // The next term, vacant and already over: the next process to look claims the one after.
      await held().then(
        () => writeTerm(store, term + 1, '', Date.now(), true),
        (err: unknown) => {
          if (!(err instanceof LeaseLost)) throw err;
        },
      );
    },
  };
}
