import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read } from '../core/query.js';
import { isRetriable, StageError } from '../core/errors.js';
import { LeaseLost, type HeldLease } from '../core/lease.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { sleep, withRetry } from '../core/retry.js';
import { toClickHouseTime } from '../core/time.js';
import { alertsOf, DEFAULT_RUNS_OUT_DAYS, type Alert } from '../readmodels/alerts.js';
import type { BalanceService } from '../readmodels/balances.js';
import { ForecastService } from '../readmodels/forecasts.js';
import { acquireEvaluatorLease } from './lease.js';

/**
 * Evaluates every account's alerts on an interval and delivers each change of state (firing or
 * resolved) to a webhook.
 *
 * One delivery per change, across any number of API processes, because:
 * - only the holder of the evaluator's lease (`lease.ts`) evaluates, and it checks the lease
 *   before each account and each delivery; two processes never hold one term;
 * - a change is named by storage, not by the clock: it is the alert's stored state version + 1
 *   (`alert_states_v1`). Whoever evaluates after a change was recorded reads its version and
 *   finds nothing new; whoever evaluates before it was recorded (the holder that delivered it
 *   died first) computes the same version, so the resend carries the same `Idempotency-Key`
 *   and the receiver can drop it; the record of a change carries a token naming it, so it is
 *   stored once.
 * A delivery that keeps failing is not recorded, and is tried again at the next evaluation
 * with the same key. An account whose evaluation fails is logged and counted, and the pass goes
 * on with the next account.
 */
export interface AlertNotification {
  alert_key: string;
  status: 'firing' | 'resolved';
  type: Alert['type'];
  account_id: string;
  wallet: Alert['wallet'];
  details: Alert['details'];
  /** The alert's state version this change makes: 1 for its first firing, one more per change. */
  version: number;
  /** When the change was seen. A resend of the same change may carry a later time. */
  at: string;
}

export interface AlertEvaluatorOptions {
  store: Store;
  balances: Pick<BalanceService, 'current'>;
  /** Forecasts for the `runs_out` and `expiring_unused` alerts; by default from `balances` and `store`. */
  forecasts?: Pick<ForecastService, 'current'>;
  /** `ALERT_RUNS_OUT_DAYS`: a wallet that runs out within this many days fires `runs_out`. */
  runsOutDays?: number;
  log: Logger;
  /** Counts an account whose evaluation failed, as `balances_background_failures_total{task="alerts.account"}`. */
  metrics?: Pick<Metrics, 'backgroundFailures'>;
  webhookUrl?: string;
  intervalMs: number;
  /** Delivery attempts per change before waiting for the next evaluation. */
  attempts?: number;
  retryBaseMs?: number;
  /** How long the evaluator's lease lasts without renewal: a dead holder is replaced after it. */
  leaseMs?: number;
}

/**
 * The alerts stage's error: a delivery the webhook did not take, or an evaluation that storage
 * did not answer. A delivery is retriable when the receiver was unreachable or answered 5xx, 408
 * or 429; any other answer refuses the payload for good.
 */
export class AlertError extends StageError {
  override readonly name: string = 'AlertError';

  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options);
  }
}

/** Every account with stored events, in order. */
const accountsQuery = jsonQuery({
  name: 'alerts.accounts',
  params: z.object({}),
  sql: (t) => `SELECT DISTINCT account_id FROM ${t.table('account_changes_v1')} ORDER BY account_id`,
  rows: z.object({ account_id: field.text }),
});

/** The last delivered state of each of the account's alerts, and its version. */
const alertStatesQuery = jsonQuery({
  name: 'alerts.states',
  params: z.object({ account: param.account }),
  sql: (t) =>
    `SELECT alert_key, toString(state) AS state, payload, version FROM ${t.table('alert_states_v1')} FINAL
     WHERE account_id = {account:String}`,
  rows: z.object({ alert_key: field.text, state: z.enum(['firing', 'resolved']), payload: field.text, version: field.int64 }),
});

/**
 * The `Idempotency-Key` of a change: its account, alert (type and wallet) and version, so every
 * send of one change, by any process, carries the same key.
 */
function idempotencyKeyOf(change: Pick<AlertNotification, 'account_id' | 'alert_key' | 'version'>): string {
  return [change.account_id, ...change.alert_key.split('/'), String(change.version)].map(encodeURIComponent).join('/');
}

/** The deduplication token of an insert of these changes' records into `alert_states_v1`: named by the changes, so an insert sent again is dropped. */
const recordTokenOf = (changes: AlertNotification[]) => `alert-state-${createHash('sha256').update(changes.map(idempotencyKeyOf).join('\n')).digest('hex').slice(0, 32)}`;

/** A change as its row of `alert_states_v1`, one JSON line. */
const stateRowOf = (accountId: string, change: AlertNotification) =>
  JSON.stringify({
    account_id: accountId,
    alert_key: change.alert_key,
    state: change.status,
    payload: JSON.stringify(change),
    changed_at: toClickHouseTime(Date.parse(change.at)),
    version: change.version,
  }) + '\n';

const DEFAULT_LEASE_MS = 30_000;

export class AlertEvaluator {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly forecasts: Pick<ForecastService, 'current'>;

  constructor(private readonly options: AlertEvaluatorOptions) {
    this.forecasts = options.forecasts ?? new ForecastService(options.balances, options.store);
  }

  /**
   * One evaluation of every account, under the evaluator's lease, taken for it and released
   * after; returns the changes delivered, none while another process holds the lease.
   */
  async evaluateOnce(): Promise<AlertNotification[]> {
    const lease = await acquireEvaluatorLease(this.options.store, this.options.leaseMs ?? DEFAULT_LEASE_MS);
    if (!lease) return [];
    try {
      return await this.evaluateAccounts(lease);
    } finally {
      await lease.release();
    }
  }

  private async evaluateAccounts(lease: HeldLease): Promise<AlertNotification[]> {
    const { store, log, metrics } = this.options;
    const accounts = await read(store, accountsQuery, {});
    const delivered: AlertNotification[] = [];
    for (const { account_id: accountId } of accounts) {
      lease.assertHeld();
      try {
        await this.evaluateAccount(accountId, lease, delivered);
      } catch (err) {
        if (err instanceof LeaseLost) throw err;
        const failure = new AlertError('alert evaluation of an account failed', { retriable: isRetriable(err), cause: err });
        metrics?.backgroundFailures.inc({ task: 'alerts.account' });
        log.error({ event: 'alert_account_failed', account: accountId, err: failure, retriable: failure.retriable }, 'alert evaluation of an account failed; the other accounts are evaluated, this one again at the next interval');
      }
    }
    return delivered;
  }

  /** Delivers and records each change of the account's alerts; `delivered` collects them as they go. */
  private async evaluateAccount(accountId: string, lease: HeldLease, delivered: AlertNotification[]): Promise<void> {
    const { store } = this.options;
    const { ledger, forecast } = await this.forecasts.current(accountId);
    const now = new Date(ledger.at).toISOString();
    const current = new Map(alertsOf(ledger, { forecast, runsOutDays: this.options.runsOutDays ?? DEFAULT_RUNS_OUT_DAYS }).map((a) => [a.key, a]));
    const stored = new Map((await read(store, alertStatesQuery, { account: accountId })).map((s) => [s.alert_key, s]));
    const changes: AlertNotification[] = [];
    for (const alert of current.values()) {
      const last = stored.get(alert.key);
      if (last?.state !== 'firing') {
        changes.push({ alert_key: alert.key, status: 'firing', type: alert.type, account_id: accountId, wallet: alert.wallet, details: alert.details, version: (last?.version ?? 0) + 1, at: now });
      }
    }
    for (const [key, last] of stored) {
      if (last.state === 'firing' && !current.has(key)) {
        const previous = JSON.parse(last.payload) as AlertNotification;
        changes.push({ ...previous, status: 'resolved', version: last.version + 1, at: now });
      }
    }
    const record = (recorded: AlertNotification[]) =>
      store.insertJsonEachRow('alert_states_v1', recorded.map((change) => stateRowOf(accountId, change)).join(''), { deduplicationToken: recordTokenOf(recorded) });
    const { webhookUrl } = this.options;
    if (!webhookUrl) {
      // Nothing to deliver: the account's changes are recorded in one insert (one part, not one
      // per alert); an insert sent again names the same changes, so the same token.
      if (changes.length === 0) return;
      lease.assertHeld();
      await record(changes);
      delivered.push(...changes);
      return;
    }
    // Each change is recorded as soon as it is delivered: a restart sends again only the one
    // being delivered when it stopped.
    for (const change of changes) {
      lease.assertHeld();
      if (!(await this.deliver(change, webhookUrl))) continue;
      await record([change]);
      delivered.push(change);
    }
  }

  /** True when the change was delivered, or the webhook refused it for good. */
  private async deliver(change: AlertNotification, webhookUrl: string): Promise<boolean> {
    const { log } = this.options;
    try {
      await withRetry(
        async () => {
          let response: Response;
          try {
            response = await fetch(webhookUrl, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKeyOf(change) },
              body: JSON.stringify(change),
              signal: AbortSignal.timeout(10_000),
            });
          } catch (err) {
            throw new AlertError('webhook unreachable', { retriable: true, cause: err });
          }
          // The answer's body is read only to free the connection; a failure to read it changes nothing.
          await response.arrayBuffer().catch((err: unknown) => log.debug({ event: 'webhook_body_unread', err }, 'webhook answer body not read'));
          if (response.status >= 200 && response.status < 300) return;
          throw new AlertError(`webhook answered ${response.status}`, { retriable: response.status >= 500 || response.status === 429 || response.status === 408 });
        },
        {
          attempts: this.options.attempts ?? 5,
          baseMs: this.options.retryBaseMs ?? 1_000,
          maxMs: 30_000,
          onRetry: (err, attempt, delayMs) => log.warn({ event: 'alert_delivery_retry', attempt, delayMs, err, alert: change.alert_key }, 'retrying webhook'),
        },
      );
      log.info({ event: 'alert_delivered', alert: change.alert_key, status: change.status, account: change.account_id }, 'alert delivered');
      return true;
    } catch (err) {
      if (err instanceof AlertError && !err.retriable) {
        // The receiver refuses this payload for good; record it so it is not sent forever.
        log.error({ event: 'alert_refused', alert: change.alert_key, err }, 'webhook refused the alert');
        return true;
      }
      log.error({ event: 'alert_delivery_failed', alert: change.alert_key, err }, 'alert not delivered; retried next evaluation');
      return false;
    }
  }

  /**
   * Evaluates now and then every interval, until `stop`, whenever this process holds the
   * evaluator's lease; it keeps the lease from one evaluation to the next, and tries to take it
   * at each interval while another process holds it. The timer only wakes the loop.
   */
  start(): void {
    const { store, log } = this.options;
    let lease: HeldLease | undefined;
    this.loop = (async () => {
      while (!this.stopping.signal.aborted) {
        try {
          lease ??= await acquireEvaluatorLease(store, this.options.leaseMs ?? DEFAULT_LEASE_MS);
          if (lease) await this.evaluateAccounts(lease);
        } catch (err) {
          if (err instanceof LeaseLost && lease) {
            log.warn({ event: 'alert_lease_lost', err }, 'alert evaluator lease lost; this process evaluates again once it holds it');
            const lost = lease;
            lease = undefined;
            await lost.release().catch((releaseErr: unknown) => log.warn({ event: 'alert_lease_release_failed', err: releaseErr }, 'lost alert evaluator lease not released; it runs out'));
          } else {
            const failure = new AlertError('alert evaluation failed', { retriable: isRetriable(err), cause: err });
            log.error({ event: 'alert_evaluation_failed', err: failure, retriable: failure.retriable }, 'alert evaluation failed; evaluated again at the next interval');
          }
        }
        await sleep(this.options.intervalMs, this.stopping.signal);
      }
      // Released, not left to run out: another process takes over at its next interval.
      await lease?.release().catch((err: unknown) => log.warn({ event: 'alert_lease_release_failed', err }, 'alert evaluator lease not released; it runs out'));
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }
}
