import { clickhouse, DATASOURCE_UID, type ClickHouseTarget } from './clickhouse.js';

/**
 * Alert rules as Grafana file provisioning (`apiVersion: 1`, `groups`). Each rule's query returns
 * one numeric column and label columns (account, wallet, name), one row per wallet; a reduce and a
 * threshold expression then fire for every wallet whose value is above 0. Browser-side macros
 * never appear here: alert queries run in Grafana's backend.
 */
export const ALERT_FOLDER = 'Balances';
export const ALERT_GROUP = 'balances';

export interface AlertQuery {
  refId: string;
  relativeTimeRange?: { from: number; to: number };
  datasourceUid: string;
  model: Record<string, unknown>;
}

export interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: AlertQuery[];
  noDataState: 'OK' | 'NoData' | 'Alerting';
  execErrState: 'OK' | 'Error' | 'Alerting';
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface AlertRulesFile {
  apiVersion: 1;
  groups: Array<{ orgId: number; name: string; folder: string; interval: string; rules: AlertRule[] }>;
}

/** Every wallet: 1 when its status is red (available at or below 20 % of total), else 0. */
export const LOW_BALANCE_SQL = `
  SELECT account_id AS account, concat(toString(wallet_type), '/', wallet_id) AS wallet, name,
         toUInt8(status = 'red') AS low_balance
  FROM wallet_balances_v1
  ORDER BY account, wallet
`;

/** Every wallet: what is left in its lots that expire within the next 90 days. */
export const EXPIRING_SQL = `
  SELECT w.account_id AS account, concat(toString(w.wallet_type), '/', w.wallet_id) AS wallet, w.name AS name,
         sumIf(l.remaining, l.remaining > 0 AND l.expires_at > now64(3) AND l.expires_at <= now64(3) + INTERVAL 90 DAY) AS expiring
  FROM wallet_balances_v1 AS w
  LEFT JOIN lot_balances_v1 AS l ON l.account_id = w.account_id AND l.wallet_type = w.wallet_type AND l.wallet_id = w.wallet_id
  GROUP BY account, wallet, name
  ORDER BY account, wallet
`;

/** Every wallet: 1 when the forecast has it run out within 30 days (SPEC section 5, `runs_out`), else 0. */
export const RUNS_OUT_SQL = `
  SELECT account_id AS account, concat(toString(wallet_type), '/', wallet_id) AS wallet, name,
         toUInt8(runs_out_at IS NOT NULL AND runs_out_at <= now64(3) + INTERVAL 30 DAY) AS runs_out_within_30d
  FROM wallet_forecasts_v1
  ORDER BY account, wallet
`;

/** Every wallet: what the forecast leaves unused in its lots that expire within the next 90 days (`expiring_unused`). */
export const EXPIRING_UNUSED_SQL = `
  SELECT w.account_id AS account, concat(toString(w.wallet_type), '/', w.wallet_id) AS wallet, w.name AS name,
         sumIf(l.projected_unused, l.expires_at > now64(3) AND l.expires_at <= now64(3) + INTERVAL 90 DAY) AS expiring_unused
  FROM wallet_forecasts_v1 AS w
  LEFT JOIN lot_forecasts_v1 AS l ON l.account_id = w.account_id AND l.wallet_type = w.wallet_type AND l.wallet_id = w.wallet_id
  GROUP BY account, wallet, name
  ORDER BY account, wallet
`;

function queryStep(sql: string): AlertQuery {
  const target: ClickHouseTarget = clickhouse('A').table(sql).json();
  return {
    refId: 'A',
    relativeTimeRange: { from: 600, to: 0 },
    datasourceUid: DATASOURCE_UID,
    model: { ...target, intervalMs: 1000, maxDataPoints: 43200 },
  };
}

const expression = (refId: string, model: Record<string, unknown>): AlertQuery => ({
  refId,
  datasourceUid: '__expr__',
  model: { refId, datasource: { type: '__expr__', uid: '__expr__' }, ...model },
});

/** Query A, B = last value of each wallet's series, C = B above 0: the firing condition. */
function walletRule(uid: string, title: string, sql: string, summary: string, description: string): AlertRule {
  return {
    uid,
    title,
    condition: 'C',
    data: [
      queryStep(sql),
      expression('B', { type: 'reduce', expression: 'A', reducer: 'last', settings: { mode: 'dropNN' } }),
      expression('C', { type: 'threshold', expression: 'B', conditions: [{ evaluator: { type: 'gt', params: [0] } }] }),
    ],
    // No wallets at all is no alert, not a missing-data alarm.
    noDataState: 'OK',
    execErrState: 'Error',
    for: '0s',
    labels: { product: 'balances' },
    annotations: { summary, description },
  };
}

export function lowBalanceRule(): AlertRule {
  return walletRule(
    'balances-low-balance',
    'Low balance',
    LOW_BALANCE_SQL,
    'Wallet {{ $labels.name }} ({{ $labels.wallet }}) of account {{ $labels.account }} is low: available is at or below 20 % of total',
    'Status red in wallet_balances_v1. Buy more, or move tokens in from another wallet.',
  );
}

export function expiringRule(): AlertRule {
  return walletRule(
    'balances-expiring',
    'Expiring within 90 days',
    EXPIRING_SQL,
    'Wallet {{ $labels.name }} ({{ $labels.wallet }}) of account {{ $labels.account }} has {{ humanize $values.B.Value }} expiring within 90 days',
    'Lots with something left that expire within 90 days; see the Balances dashboard.',
  );
}

export function runsOutRule(): AlertRule {
  return walletRule(
    'balances-runs-out',
    'Runs out within 30 days',
    RUNS_OUT_SQL,
    'Wallet {{ $labels.name }} ({{ $labels.wallet }}) of account {{ $labels.account }} runs out within 30 days at its current burn rate',
    'runs_out_at in wallet_forecasts_v1 (burn rate over the last 28 days); see the Forecast dashboard. Buy more, or move tokens in from a wallet that would let them expire.',
  );
}

export function expiringUnusedRule(): AlertRule {
  return walletRule(
    'balances-expiring-unused',
    'Expiring unused within 90 days',
    EXPIRING_UNUSED_SQL,
    'Wallet {{ $labels.name }} ({{ $labels.wallet }}) of account {{ $labels.account }} is forecast to let {{ humanize $values.B.Value }} expire unused within 90 days',
    'projected_unused of lots expiring within 90 days in lot_forecasts_v1, at the wallet\'s current burn rate; see the Forecast dashboard for the lots, and move them to a wallet that runs out first.',
  );
}

export function alertRules(): AlertRulesFile {
  return {
    apiVersion: 1,
    groups: [{ orgId: 1, name: ALERT_GROUP, folder: ALERT_FOLDER, interval: '1m', rules: [lowBalanceRule(), expiringRule(), runsOutRule(), expiringUnusedRule()] }],
  };
}
