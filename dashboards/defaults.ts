import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { DATASOURCE } from './clickhouse.js';

/** Shared by every dashboard: range, refresh, variables and the filters that use them. */

export const DEFAULT_RANGE = { from: 'now-90d', to: 'now' };
export const TAGS = ['balances'];

/** `team/platform`: how dashboards, variables and alert labels name a wallet. */
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
        'WHERE account_id = ${account:singlequote} AND $__conditionalAll(toString(wallet_type) IN (${wallet_type:singlequote}), $wallet_type) ' +
        'ORDER BY wallet_type, name',
    )
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });
}

/** The account and the selected wallet types and wallets; `prefix` names a table alias. */
export function walletFilter(prefix = ''): string {
  const p = prefix ? `${prefix}.` : '';
  return [
    `${p}account_id = \${account:singlequote}`,
    `$__conditionalAll(toString(${p}wallet_type) IN (\${wallet_type:singlequote}), $wallet_type)`,
    `$__conditionalAll(concat(toString(${p}wallet_type), '/', ${p}wallet_id) IN (\${wallet:singlequote}), $wallet)`,
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
