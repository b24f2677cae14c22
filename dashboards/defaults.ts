import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { DATASOURCE } from './clickhouse.js';

/** Shared by every dashboard: range, refresh, variables and the filters that use them. */

export const DEFAULT_RANGE = { from: 'now-90d', to: 'now' };
export const TAGS = ['balances'];

/**
 * `team/platform`: how dashboards, variables and alert labels name a wallet, and the value of
 * `$wallet`. For showing and choosing only: filters compare the key columns (`walletKeysIn`).
 */
export const WALLET_KEY = "concat(toString(wallet_type), '/', wallet_id)";

export function dashboardBase(uid: string, title: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .tags(TAGS)
    .timezone('utc')
    .time(DEFAULT_RANGE)
    .refresh('1m')
    .timepicker(new dashboard.TimePickerBuilder().refreshIntervals(['30s', '1m', '5m', '15m']))
    .tooltip(dashboard.DashboardCursorSync.Crosshair);
}

/** The account every panel shows; a Grafana user picks one. */
export function accountVariable(): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('account')
    .label('Account')
    .datasource(DATASOURCE)
    .query('SELECT DISTINCT account_id FROM wallet_balances_v1 ORDER BY account_id')
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

export function walletTypeVariable(): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('wallet_type')
    .label('Wallet type')
    .datasource(DATASOURCE)
    .query('SELECT DISTINCT toString(wallet_type) FROM wallet_balances_v1 WHERE account_id = ${account:singlequote} ORDER BY 1')
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });
}

/** Wallets by display name, valued by their key, narrowed by `$wallet_type`. */
export function walletVariable(): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('wallet')
    .label('Wallet')
    .datasource(DATASOURCE)
    .query(
      `SELECT ${WALLET_KEY} AS __value, concat(name, ' (', toString(wallet_type), ')') AS __text FROM wallet_balances_v1 ` +
        'WHERE account_id = ${account:singlequote} AND $__conditionalAll(wallet_type IN (${wallet_type:singlequote}), $wallet_type) ' +
        'ORDER BY wallet_type, name',
    )
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });
}

/**
 * The wallets `$wallet` holds, as a condition on the key columns themselves: the balance tables
 * are ordered by (account_id, wallet_type, wallet_id), and only a condition on those columns, not
 * on a function of them such as `concat`, lets ClickHouse skip the other wallets' rows. Grafana
 * writes the selected `team/platform` values as quoted strings (`'a','b'`, quotes escaped), and
 * each splits at its first slash: a type never holds one, an id may. A value whose type is no
 * wallet type fails the query (the enum cast); the variable offers stored wallets only.
 * The plugin finds `$__conditionalAll`'s two arguments by counting brackets, not quotes, so every
 * comma here sits inside parentheses.
 */
export function walletKeysIn(prefix = ''): string {
  const p = prefix ? `${prefix}.` : '';
  return (
    `(${p}wallet_type, ${p}wallet_id) IN (SELECT substring(wallet_key, 1, position(wallet_key, '/') - 1), substring(wallet_key, position(wallet_key, '/') + 1) ` +
    'FROM (SELECT arrayJoin([${wallet:singlequote}]) AS wallet_key))'
  );
}

/** The account and the selected wallet types and wallets; `prefix` names a table alias. */
export function walletFilter(prefix = ''): string {
  const p = prefix ? `${prefix}.` : '';
  return [
    `${p}account_id = \${account:singlequote}`,
    `$__conditionalAll(${p}wallet_type IN (\${wallet_type:singlequote}), $wallet_type)`,
    `$__conditionalAll(${walletKeysIn(prefix)}, $wallet)`,
  ].join('\n  AND ');
}

/**
 * Fields by name, for overrides. The `byNames` matcher takes an object, as the dashboard schema
 * requires of every matcher's options (`byName` takes a bare string).
 */
export function byNames(...names: string[]): dashboard.MatcherConfig {
  return { id: 'byNames', options: { mode: 'include', names } };
}

export const RED = 'red';
export const GREEN = 'green';

/** Status colours for the wallet status text. */
export const statusMappings: dashboard.ValueMapping[] = [
  {
    type: dashboard.MappingType.ValueToText,
    options: { green: { text: 'green', color: GREEN, index: 0 }, red: { text: 'red', color: RED, index: 1 } },
  },
];
