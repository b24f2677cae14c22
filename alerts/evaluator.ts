import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read } from '../core/query.js';
import { isRetriable, StageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { sleep, withRetry } from '../core/retry.js';
import { alertsOf, type Alert } from '../readmodels/alerts.js';
import type { BalanceService } from '../readmodels/balances.js';

/**
 * Evaluates every account's alerts on an interval and delivers each change of state (firing or
 * resolved) once to a webhook. The last delivered state is stored, so a restart does not fire
 * again what already fired; a delivery that keeps failing is tried again at the next evaluation.
 */
export interface AlertNotification {
  alert_key: string;
  status: 'firing' | 'resolved';
  type: Alert['type'];
  account_id: string;
  wallet: Alert['wallet'];
  details: Alert['details'];
  at: string;
}

export interface AlertEvaluatorOptions {
  store: Store;
  balances: BalanceService;
  log: Logger;
  webhookUrl?: string;
  intervalMs: number;
  /** Delivery attempts per change before waiting for the next evaluation. */
  attempts?: number;
  retryBaseMs?: number;
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
  sql: (t) => `SELECT DISTINCT account_id FROM ${t.table('account_versions_v1')} ORDER BY account_id`,
  rows: z.object({ account_id: field.text }),
});

/** The last delivered state of each of the account's alerts. */
const alertStatesQuery = jsonQuery({
  name: 'alerts.states',
  params: z.object({ account: param.account }),
  sql: (t) =>
    `SELECT alert_key, toString(state) AS state, payload FROM ${t.table('alert_states_v1')} FINAL
     WHERE account_id = {account:String}`,
  rows: z.object({ alert_key: field.text, state: z.enum(['firing', 'resolved']), payload: field.text }),
});

export class AlertEvaluator {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: AlertEvaluatorOptions) {}

  /** Runs one evaluation of every account; returns the changes delivered. */
  async evaluateOnce(): Promise<AlertNotification[]> {
    const { store, balances } = this.options;
    const accounts = await read(store, accountsQuery, {});
    const delivered: AlertNotification[] = [];
    for (const { account_id: accountId } of accounts) {
      const ledger = await balances.current(accountId);
      const now = new Date(ledger.at).toISOString();
      const current = new Map(alertsOf(ledger).map((a) => [a.key, a]));
      const stored = await read(store, alertStatesQuery, { account: accountId });
      const firing = new Map(stored.filter((s) => s.state === 'firing').map((s) => [s.alert_key, s]));
      const changes: AlertNotification[] = [];
      for (const alert of current.values()) {
        if (!firing.has(alert.key)) {
          changes.push({ alert_key: alert.key, status: 'firing', type: alert.type, account_id: accountId, wallet: alert.wallet, details: alert.details, at: now });
        }
      }
      for (const [key, state] of firing) {
        if (!current.has(key)) {
          const previous = JSON.parse(state.payload) as AlertNotification;
          changes.push({ ...previous, status: 'resolved', at: now });
        }
      }
      for (const change of changes) {
        if (await this.deliver(change)) {
          await store.insertJsonEachRow(
            'alert_states_v1',
            JSON.stringify({
              account_id: accountId,
              alert_key: change.alert_key,
              state: change.status,
              payload: JSON.stringify(change),
              changed_at: change.at.replace('T', ' ').replace('Z', ''),
              version: Date.now() * 1000 + delivered.length,
            }) + '\n',
          );
          delivered.push(change);
        }
      }
    }
    return delivered;
  }

  /** True when the change was delivered, or there is nowhere to deliver it. */
  private async deliver(change: AlertNotification): Promise<boolean> {
    const { webhookUrl, log } = this.options;
    if (!webhookUrl) return true;
    try {
      await withRetry(
        async () => {
          let response: Response;
          try {
            response = await fetch(webhookUrl, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': `${change.account_id}/${change.alert_key}/${change.status}/${change.at}` },
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

  /** Evaluates now and then every interval, until `stop`. The timer only wakes the loop. */
  start(): void {
    this.loop = (async () => {
      while (!this.stopping.signal.aborted) {
        try {
          await this.evaluateOnce();
        } catch (err) {
          const failure = new AlertError('alert evaluation failed', { retriable: isRetriable(err), cause: err });
          this.options.log.error({ event: 'alert_evaluation_failed', err: failure, retriable: failure.retriable }, 'alert evaluation failed; evaluated again at the next interval');
        }
        await sleep(this.options.intervalMs, this.stopping.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }
}
