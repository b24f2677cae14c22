import { randomInt } from 'node:crypto';
import type { Store } from '../core/clickhouse.js';
import { read } from '../core/query.js';
import type { Logger } from '../core/log.js';
import { balanceRowsOf, clickhouseTime } from './balanceRows.js';
import { dailyClosingBalances, historyFingerprint } from './dailyBalances.js';
import { dailyBalanceRowsOf, forecastRowsOf } from './forecastRows.js';
import { snapshotForecast, splitSnapshotInput } from './forecastSnapshot.js';
import { computeLedger, DAY_MS } from '../ledger/ledger.js';
import { accountChangesQuery, sameStructure, sameUsage, type StructureBasis, type UsageBasis } from '../storage/accountChanges.js';
import { loadLedgerInput, loadLedgerStructure, structureBasisOf, type LedgerStructure } from '../readmodels/ledgerSource.js';
import type { UsageIndex } from '../readmodels/usageIndex.js';
import { AggregatorError } from './errors.js';
import { changeCountsParams, changeCountsQuery } from './queries.js';
import { shardOf, type Shard } from './shards.js';

export { shardOf, type Shard } from './shards.js';
import { pairVoidedUsage } from '../storage/voids.js';

/**
 * The aggregator: the one writer of the balance tables (migration 020), of the forecast and
 * daily balance tables (migration 029) and of the void pairings (`voided_usage_v2`). It recomputes an account's ledger when the account stores an event,
 * whichever process stored it (seen by polling the account change counts of `account_changes_v1`
 * every `POLL_MS`, or at once through `notify` in this process), when storage holds other usage
 * than the last snapshot summed, from the usage index or from storage (a row or a pairing that
 * became visible after the change count counted it: `accountChanges.ts`; the poll reads both, at
 * most once a `pollMs`: a pass begun by `notify` reads the change counts only), and when the clock passes the
 * account's next lot boundary. Each recomputation reads the account's change count, pairs its voids, then writes a
 * complete snapshot under a new snapshot number, so restarts, replays and a second aggregator
 * never leave a wrong row. A restarted aggregator recomputes every account it owns at its first
 * pass, so pairings and snapshots a crash left unwritten are made then.
 *
 * Timers only signal: the loop sleeps until the next account is due (a lot boundary, the end of
 * an account's pause between recomputations, a retry) or the next poll, and wakes early only for
 * an account that is due at once.
 */

/** How often every account's change count is compared with the last snapshot's. */
export const POLL_MS = 250;
/** How long a failed account waits before it is tried again. */
const RETRY_MS = 2_000;
/** Accounts recomputed at once. */
const CONCURRENCY = 2;
/**
 * Storage's usage is read with the change counts at most once per this many times the last such
 * read took (and at most once a poll): counting the daily rollup of accounts read from storage
 * reads their rows, so on a large table the poll slows down rather than spends its time there.
 */
const USAGE_COUNTS_SHARE = 20;
/**
 * The shortest time between two recomputations of one account begun because streamed events
 * arrived. Each stored batch asks for one; batches arriving while one runs are taken by the next,
 * which starts when it ends and this pause has passed. Short enough that a streamed event is in
 * the balance tables within about a second (`npm run bench -- freshness`); long enough that
 * recomputing a large account back to back does not take the CPU that storing the stream needs.
 */
export const MIN_RECOMPUTE_MS = 500;
/**
 * The pause instead while this process's ingest is behind (`ingestBehind`): storing the stream
 * goes first, and a balance cannot be fresher than the events stored anyway.
 */
export const BEHIND_RECOMPUTE_MS = 2_000;
/**
 * While ingest is behind, an account is also recomputed no sooner than this many times its last
 * recomputation's length after that one began: at most a fifth of the time goes to one account's
 * balance tables, whatever its size. Under a backlog of 250k events for an account of 1,000
 * wallets each recomputation took about 1.2 s of CPU, and recomputing it every 2 s halved the
 * rate at which the backlog was stored.
 */
export const BEHIND_SHARE = 5;

export interface AggregatorOptions {
  store: Store;
  log: Logger;
  clock?: () => number;
  pollMs?: number;
  /** Called after every pass over the accounts, with whether storage answered: a health signal. */
  onPass?: (storageAnswered: boolean) => void;
  /** This process's share of the accounts when several aggregators divide them (`shardOf`). */
  shard?: Shard;
  /**
   * The process's usage index, when it keeps one (the embedded process, which also answers
   * reads): an account held there has its usage summed from memory, caught up by a read begun
   * after the count of its events was read, instead of read again from the raw events of the
   * days its breakpoints split and of today at every recomputation.
   */
  usage?: UsageIndex;
  /**
   * True while this process's ingest is behind (`KafkaWorker.behind`): accounts due because
   * streamed events arrived wait `BEHIND_RECOMPUTE_MS` between recomputations instead of
   * `MIN_RECOMPUTE_MS`. Writes read back at once and lot boundaries do not wait.
   */
  ingestBehind?: () => boolean;
}

/** What the poll read of an account: its change count and, for an account with a snapshot, storage's counts of what a snapshot reads. */
interface StoredCounts {
  changes: number;
  usage?: UsageBasis;
  structure?: StructureBasis;
}

interface AccountState {
  /** The account's change count (`accountChangesQuery`) read before the last recomputation. */
  changes: number;
  /** What the last snapshot's usage was summed from (`UsageBasis`); none after a failure. */
  usage?: UsageBasis;
  /** How many lots, moves and voids the last snapshot read (`StructureBasis`); none after a failure. */
  structure?: StructureBasis;
  /** When the last snapshot stops being right without a new event. */
  changesAt: number;
  /** After a failure, not before this instant. */
  retryAt: number;
  /** When the last recomputation began. */
  startedAt?: number;
  /** How long the last recomputation took, in milliseconds of wall time. */
  tookMs?: number;
  /** `historyFingerprint` of the closed days this aggregator last wrote for the account. */
  history?: string;
}

export interface SnapshotReport {
  accountId: string;
  /** The snapshot's number: its rows carry it in the balance tables' `version` column. */
  snapshot: bigint;
  /** The account's change count the snapshot reflects. */
  changes: number;
  wallets: number;
  lots: number;
  tokenEvents: number;
  /** Rows written to the daily balance table; 0 when the closed days were as last written. */
  dailyBalances: number;
}

export class BalanceAggregator {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly pollMs: number;
  private readonly onPass: (storageAnswered: boolean) => void;
  private readonly shard: Shard | undefined;
  private readonly usage: UsageIndex | undefined;
  private readonly ingestBehind: () => boolean;
  private readonly accounts = new Map<string, AccountState>();
  /** Accounts this process streamed events for since they were last recomputed: due after their pause. */
  private readonly dueSoon = new Set<string>();
  /** Accounts changed by a write its client reads back at once: due at the next pass. */
  private readonly dueNow = new Set<string>();
  /** The highest snapshot number this aggregator wrote. */
  private lastSnapshot = 0n;
  /** When the next pass reads storage's usage with the change counts. */
  private usageCountsDue = Number.NEGATIVE_INFINITY;
  private running = false;
  private loop: Promise<void> | undefined;
  /** The loop's sleep, while it sleeps: when it ends, and how to end it sooner. */
  private sleeping: { until: number; rearm: (until: number) => void } | undefined;
  /** The earliest instant something asked for during a pass is due: the sleep after it ends then. */
  private dueDuringPass = Number.POSITIVE_INFINITY;
  /** Resolvers waiting for a pass that starts after they asked. */
  private waiting: Array<() => void> = [];

  constructor(options: AggregatorOptions) {
    this.store = options.store;
    this.log = options.log;
    this.clock = options.clock ?? Date.now;
    this.pollMs = options.pollMs ?? POLL_MS;
    this.onPass = options.onPass ?? (() => undefined);
    this.shard = options.shard;
    this.usage = options.usage;
    this.ingestBehind = options.ingestBehind ?? (() => false);
  }

  /** Whether this aggregator writes the account's balances. */
  owns(accountId: string): boolean {
    return this.shard === undefined || shardOf(accountId, this.shard.count) === this.shard.index;
  }

  /** Starts the loop; every account is recomputed on its first pass. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeBy(Number.NEGATIVE_INFINITY);
    await this.loop;
  }

  /** Ends the loop's sleep by `at` (at once when it has passed); during a pass, the sleep after it. */
  private wakeBy(at: number): void {
    if (this.sleeping) {
      if (at < this.sleeping.until) this.sleeping.rearm(at);
    } else this.dueDuringPass = Math.min(this.dueDuringPass, at);
  }

  /** The pause between the starts of two recomputations of an account begun because streamed events arrived. */
  private pauseMs(state: AccountState | undefined): number {
    if (!this.ingestBehind()) return MIN_RECOMPUTE_MS;
    return Math.max(BEHIND_RECOMPUTE_MS, BEHIND_SHARE * (state?.tookMs ?? 0));
  }

  /** When a notified account may be recomputed: after its pause, and after a failure's retry wait. */
  private dueAt(accountId: string, freshness: 'now' | 'soon'): number {
    const state = this.accounts.get(accountId);
    if (!state) return Number.NEGATIVE_INFINITY;
    return Math.max(state.retryAt, freshness === 'now' ? Number.NEGATIVE_INFINITY : (state.startedAt ?? 0) + this.pauseMs(state));
  }

  /**
   * Called by this process's ingest once it stored events for these accounts. A write whose
   * client reads it back (`now`) is recomputed at the next pass; a streamed one (`soon`) within
   * MIN_RECOMPUTE_MS of the account's last recomputation, as a write by another process is.
   */
  notify(accountIds: Iterable<string>, freshness: 'now' | 'soon' = 'now'): void {
    for (const accountId of accountIds) {
      (freshness === 'now' ? this.dueNow : this.dueSoon).add(accountId);
      this.wakeBy(this.dueAt(accountId, freshness));
    }
  }

  /** Resolves after a whole pass that began after this call, so every change stored before it is written. */
  caughtUp(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.wakeBy(Number.NEGATIVE_INFINITY);
    });
  }

  /** Timers only signal: the loop does the work, and a pass's failures are per account. */
  private async run(): Promise<void> {
    while (this.running) {
      const waiters = this.waiting;
      this.waiting = [];
      this.dueDuringPass = Number.POSITIVE_INFINITY;
      const { nextDue, storageAnswered } = await this.pass();
      this.onPass(storageAnswered);
      for (const resolve of waiters) resolve();
      if (!this.running) break;
      // Storage that did not answer is asked again after a pause, not at every poll.
      const now = this.clock();
      const until = storageAnswered ? Math.min(now + this.pollMs, nextDue, this.dueDuringPass) : now + RETRY_MS;
      await this.sleep(until);
    }
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Sleeps until `until` on the aggregator's clock, or until `wakeBy` asks for sooner. */
  private sleep(until: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (at: number) => {
        clearTimeout(timer);
        this.sleeping = { until: at, rearm: arm };
        const delay = at - this.clock();
        if (delay > 0) timer = setTimeout(end, delay);
        else end();
      };
      const end = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      arm(until);
    });
  }

  /** One comparison of every account with its last snapshot; returns when the next one is due. */
  private async pass(): Promise<{ nextDue: number; storageAnswered: boolean }> {
    const dueSoon = new Set(this.dueSoon);
    this.dueSoon.clear();
    const dueNow = new Set(this.dueNow);
    this.dueNow.clear();
    let changeCounts: Map<string, StoredCounts>;
    try {
      changeCounts = await this.changeCounts();
    } catch (err) {
      const failure = new AggregatorError('could not read account change counts', err);
      this.log.warn({ event: 'aggregator_poll_failed', err: failure, retriable: failure.retriable }, 'could not read account change counts');
      return { nextDue: this.clock() + RETRY_MS, storageAnswered: false };
    }
    const now = this.clock();
    const due: string[] = [];
    /** When the accounts that changed but must wait are due: the loop sleeps until the first. */
    let waitingUntil = Number.POSITIVE_INFINITY;
    for (const [accountId, { changes, usage, structure }] of changeCounts) {
      if (!this.owns(accountId)) continue;
      const state = this.accounts.get(accountId);
      // Storage holds usage the last snapshot did not sum, or lots, moves or voids it did not
      // read, whatever the change count says.
      const storageMoved =
        (state?.usage !== undefined && usage !== undefined && !sameUsage(state.usage, usage)) ||
        (state?.structure !== undefined && structure !== undefined && !sameStructure(state.structure, structure));
      const arrived = state !== undefined && (state.changes !== changes || dueSoon.has(accountId) || storageMoved);
      const pauseEnds = (state?.startedAt ?? 0) + this.pauseMs(state);
      const changed = state === undefined || now >= state.changesAt || dueNow.has(accountId) || (arrived && now >= pauseEnds);
      if (changed && (state === undefined || now >= state.retryAt)) {
        due.push(accountId);
        continue;
      }
      // Not yet: the next pass after it is due looks again, since the change count still differs.
      if (dueNow.has(accountId)) this.dueNow.add(accountId);
      else if (dueSoon.has(accountId)) this.dueSoon.add(accountId);
      if (changed) waitingUntil = Math.min(waitingUntil, (state as AccountState).retryAt);
      else if (arrived) waitingUntil = Math.min(waitingUntil, Math.max(pauseEnds, (state as AccountState).retryAt));
    }
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const accountId = due[next++] as string;
        try {
          await this.recompute(accountId);
        } catch (err) {
          const failure = err instanceof AggregatorError ? err : new AggregatorError('could not write the balances of an account', err, accountId);
          const previous = this.accounts.get(accountId);
          const retryAt = this.clock() + RETRY_MS;
          this.accounts.set(accountId, { changes: previous?.changes ?? -1, changesAt: retryAt, retryAt });
          this.log.error({ event: 'aggregator_account_failed', account: accountId, err: failure, retriable: failure.retriable }, 'could not write balances of an account; will retry');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    let nextDue = waitingUntil;
    for (const state of this.accounts.values()) nextDue = Math.min(nextDue, state.changesAt);
    return { nextDue, storageAnswered: true };
  }

  /**
   * Every account's change count, and storage's usage of the accounts with a snapshot when due
   * (none else). Storage's usage is read at most once a poll interval, and no more often than
   * keeps its reading under 1/`USAGE_COUNTS_SHARE` of the time: the daily rollup's count of an
   * account read from storage reads its rows.
   */
  private async changeCounts(): Promise<Map<string, StoredCounts>> {
    const now = this.clock();
    /** The accounts whose usage is counted, with what their last snapshot summed. */
    const counted = new Map(now >= this.usageCountsDue ? [...this.accounts].flatMap(([accountId, state]) => (state.usage ? [[accountId, state.usage] as const] : [])) : []);
    const rolled = [...counted].flatMap(([accountId, usage]) => (usage.days === undefined ? [] : [accountId]));
    const started = performance.now();
    const rows = await read(this.store, changeCountsQuery, changeCountsParams([...counted.keys()], rolled));
    if (counted.size > 0) this.usageCountsDue = now + Math.max(this.pollMs, USAGE_COUNTS_SHARE * (performance.now() - started));
    return new Map(
      rows.map(([accountId = '', changes = '0', usageRows = '0', voided = '0', days = '0', lots = '0', moves = '0', voids = '0']) => {
        const summed = counted.get(accountId);
        if (!summed) return [accountId, { changes: Number(changes) }];
        const usage = { rows: Number(usageRows), voided: Number(voided), ...(summed.days === undefined ? {} : { days: Number(days) }) };
        return [accountId, { changes: Number(changes), usage, structure: { lots: Number(lots), moves: Number(moves), voids: Number(voids) } }];
      }),
    );
  }

  /** Whether a void of the account may remove a usage event not yet paired with it. */
  private mayHaveVoidsToPair(accountId: string, structure: LedgerStructure): boolean {
    if (structure.voided.size === 0) return false;
    const paired = this.usage?.pairedVoids(accountId);
    if (!paired) return true;
    const notUsage = new Set([...structure.lots.map((l) => l.eventId), ...structure.moves.map((m) => m.eventId)]);
    for (const id of structure.voided) if (!paired.has(id) && !notUsage.has(id)) return true;
    return false;
  }

  /** Computes the account's ledger now and writes it as a new snapshot; fails with an `AggregatorError`. */
  async recompute(accountId: string): Promise<SnapshotReport> {
    try {
      return await this.writeSnapshot(accountId);
    } catch (err) {
      throw new AggregatorError('could not write the balances of an account', err, accountId);
    }
  }

  private async writeSnapshot(accountId: string): Promise<SnapshotReport> {
    const at = this.clock();
    const began = performance.now();
    // Read before the ledger's input: an event stored after this read changes the count again,
    // so the next pass recomputes.
    const [changesRow] = await read(this.store, accountChangesQuery, { account: accountId });
    const changes = changesRow?.v ?? 0;
    // Lots, moves, voids, names and the first usage dated after now: one statement, after the
    // count, so any event the count includes is in it (or, when a view's part of it shows
    // later, in the structure the poll finds differing from this one: accountChanges.ts).
    const structure = await loadLedgerStructure(this.store, { accountId }, { names: true, nextUsageAfter: at });
    // The aggregator owns the void pairings: the standalone ingest stores voids and pairs
    // nothing. Every void the count includes is stored, so this pairing finds its pair if its
    // usage is stored too, before the ledger and the usage index read the pairings. A pairing
    // written now grows the count (migration 027) past the one read above, so the next pass
    // recomputes the account once more and finds nothing to pair; one made already, or twice,
    // is subtracted once (voids.ts). Only a void of a usage event is paired: when every void the
    // structure lists removes a purchase or a move it holds, or a usage the usage index holds as
    // paired already (pairings are never removed), there is nothing to pair.
    if (this.mayHaveVoidsToPair(accountId, structure)) await pairVoidedUsage(this.store, [accountId]);
    // Usage from memory when the account is held there, caught up after the change count and the
    // pairing: exactly the usage rows and pairings of one snapshot of storage, and how many
    // usage rows (usageIndex.ts).
    const usage = await this.usage?.fresh(accountId);
    // With what its usage was summed from, taken before the sums (accountChanges.ts).
    const input = await loadLedgerInput(this.store, { accountId, at }, usage, structure, { basis: true });
    const names = structure.names ?? new Map();
    const nextUsage = structure.nextUsage ?? Number.MAX_SAFE_INTEGER;
    // One usage read split at every closed day's end and at the burn-rate window's ends serves
    // the balances now, each day's closing balance and the forecast alike.
    const snapshot = await splitSnapshotInput(this.store, accountId, input, usage);
    const { input: split, days } = snapshot;
    const ledger = computeLedger(split);
    const rows = balanceRowsOf(accountId, ledger, names);
    const forecast = forecastRowsOf(accountId, snapshotForecast(ledger, snapshot), names);
    // The closed days change only when something dated up to the last of them does (a late or
    // backdated event, a void), when a wallet appears, or when a day closes: otherwise they are
    // not computed or written again, and their table keeps the version that holds them. Another
    // aggregator's later version holds them too: it computed them from no fewer events, or sees
    // its count differ at its next poll and writes again.
    const wallets = [...ledger.wallets.keys()].sort();
    const history = historyFingerprint(split, wallets, days);
    const daily = this.accounts.get(accountId)?.history === history ? undefined : dailyBalanceRowsOf(accountId, dailyClosingBalances(split, wallets, days));
    // A later instant always gets a higher snapshot number, and so does a later recomputation by this
    // aggregator in the same millisecond (it has seen at least as many events). The random low
    // bits keep two aggregators in one millisecond from writing one number twice; if the one
    // that saw fewer events wins, it sees the count differ at its next poll and writes again.
    const number = maxOf(BigInt(at) * 1_048_576n + BigInt(randomInt(1_048_576)), this.lastSnapshot + 1n);
    this.lastSnapshot = number;
    const common = { version: number.toString(), computed_at: clickhouseTime(at) };
    // Each table's rows are one insert, so one part: the views show a version once all of it is
    // there. The placeholder (empty wallet_id) makes a version exist even with no other row.
    const ndjson = (list: object[]) => [{ account_id: accountId, wallet_type: 'team', wallet_id: '' }, ...list].map((row) => JSON.stringify({ ...row, ...common })).join('\n');
    await Promise.all([
      this.store.insertJsonEachRow('wallet_balance_versions_v1', ndjson(rows.wallets)),
      this.store.insertJsonEachRow('lot_balance_versions_v1', ndjson(rows.lots)),
      this.store.insertJsonEachRow('token_event_versions_v1', ndjson(rows.tokenEvents)),
      this.store.insertJsonEachRow('wallet_forecast_versions_v1', ndjson(forecast.wallets)),
      this.store.insertJsonEachRow('lot_forecast_versions_v1', ndjson(forecast.lots)),
      ...(daily ? [this.store.insertJsonEachRow('daily_balance_versions_v1', ndjson(daily))] : []),
    ]);
    // The next instant the snapshot changes with no new event: a lot boundary, a move, dated
    // usage, or midnight, when a day closes and the burn-rate window moves on by a day.
    const midnight = (Math.floor(at / DAY_MS) + 1) * DAY_MS;
    this.accounts.set(accountId, {
      changes,
      usage: input.basis,
      structure: structureBasisOf(structure),
      changesAt: Math.min(input.nextLotBoundary, nextUsage, midnight),
      retryAt: 0,
      startedAt: at,
      tookMs: performance.now() - began,
      history,
    });
    return { accountId, snapshot: number, changes, wallets: rows.wallets.length, lots: rows.lots.length, tokenEvents: rows.tokenEvents.length, dailyBalances: daily?.length ?? 0 };
  }
}

const maxOf = (a: bigint, b: bigint) => (a > b ? a : b);
