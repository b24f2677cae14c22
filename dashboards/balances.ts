import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as piechart from '@grafana/grafana-foundation-sdk/piechart';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { clickhouse } from './clickhouse.js';
import { accountVariable, byNames, dashboardBase, GREEN, RED, statusMappings, walletFilter, walletKeysIn, walletTypeVariable, walletVariable } from './defaults.js';

/** The Balances page's views: a donut per wallet, every wallet's status, and what expires soon. */
export const BALANCES_UID = 'balances-overview';

/** Days until an instant, rounded up as the API's `days_left` is. */
const daysUntil = (column: string) => `toInt64(ceil((toUnixTimestamp64Milli(${column}) - toUnixTimestamp64Milli(now64(3))) / 86400000))`;

/**
 * The smallest `used` at which a wallet is red, exactly: red when available ≤ 20 % of total, that
 * is when used ≥ 80 % of total; amounts have 4 decimals, so that is 80 % rounded up to 0.0001.
 */
export const RED_FROM_SQL = 'toDecimal128(intDiv(toInt128(total * 10000) * 4 + 4, 5), 4) / 10000';

/**
 * Available and used of one wallet, repeated for every selected wallet. The used slice carries
 * the wallet's status: green, and red from 80 % of the total used (available at or below 20 %).
 * Query B gives that boundary per wallet, and "config from query results" turns it into the
 * slice's threshold (green below, red at or above), exact at the boundary itself.
 */
export function walletDonut(): piechart.PanelBuilder {
  // Each copy's `$wallet` is its one wallet. No `$__conditionalAll` here: the plugin decides All
  // from the dashboard's selection, which would make every copy read every wallet.
  const wallet = `account_id = \${account:singlequote} AND ${walletKeysIn()}`;
  return new piechart.PanelBuilder()
    .title('${wallet:text}')
    .description('Available and used of the lots active now. Used is green, and red when available is at or below 20 % of the total.')
    .repeat('wallet')
    .repeatDirection('h')
    .maxPerRow(6)
    .gridPos({ x: 0, y: 0, w: 4, h: 8 })
    .withTarget(
      clickhouse('A').table(`
        SELECT available, used
        FROM wallet_balances_v1
        WHERE ${wallet}
      `),
    )
    .withTarget(
      clickhouse('B').table(`
        SELECT total, ${RED_FROM_SQL} AS red_from
        FROM wallet_balances_v1
        WHERE ${wallet}
      `),
    )
    .withTransformation({
      id: 'configFromData',
      options: {
        configRefId: 'B',
        mappings: [
          { fieldName: 'total', handlerKey: 'max' },
          { fieldName: 'red_from', handlerKey: 'threshold1' },
        ],
      },
    })
    .pieType(piechart.PieChartType.Donut)
    .displayLabels([piechart.PieChartLabels.Percent])
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .legend(
      new piechart.PieChartLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .values([piechart.PieChartLegendValues.Value]),
    )
    .min(0)
    .decimals(2)
    // Red from 80 % of the total (the maximum, from query B); "config from query results" then
    // replaces these steps with the exact boundary, which a percentage of a float cannot hold.
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Percentage).steps([
        { value: null, color: GREEN },
        { value: 80, color: RED },
      ]),
    )
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .withOverride({ matcher: byNames('available'), properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'blue' } }] });
}

/** Every selected wallet: status, amounts and days to its next expiry. */
export function walletsTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Wallets')
    .description('Balances now. Status is red when available is at or below 20 % of total.')
    .gridPos({ x: 0, y: 8, w: 24, h: 10 })
    .withTarget(
      clickhouse('A').table(`
        SELECT name AS wallet, toString(wallet_type) AS type, wallet_id, toString(status) AS status,
               total, used, available, overage, expired, expiring_within_90d,
               if(next_expiry IS NULL, NULL, ${daysUntil('assumeNotNull(next_expiry)')}) AS days_to_next_expiry
        FROM wallet_balances_v1
        WHERE ${walletFilter()}
        ORDER BY status DESC, available ASC, wallet
      `),
    )
    .mappings(statusMappings)
    .withOverride({ matcher: byNames('status'), properties: [{ id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorBackground } }] });
}

/** Lots with something left that expire within 90 days, soonest first. */
export function expiringLotsTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Expiring within 90 days')
    .gridPos({ x: 0, y: 18, w: 24, h: 10 })
    .withTarget(
      clickhouse('A').table(`
        SELECT w.name AS wallet, toString(l.wallet_type) AS type, l.lot_id AS lot_id, l.remaining AS remaining,
               l.expires_at AS expires_at, ${daysUntil('l.expires_at')} AS days_left
        FROM lot_balances_v1 AS l
        LEFT JOIN wallet_balances_v1 AS w ON w.account_id = l.account_id AND w.wallet_type = l.wallet_type AND w.wallet_id = l.wallet_id
        WHERE ${walletFilter('l')}
          AND l.remaining > 0 AND l.expires_at > now64(3) AND l.expires_at <= now64(3) + INTERVAL 90 DAY
        ORDER BY l.expires_at, wallet, lot_id
      `),
    )
    .withOverride({
      matcher: byNames('days_left'),
      properties: [
        {
          id: 'thresholds',
          value: { mode: dashboard.ThresholdsMode.Absolute, steps: [{ value: null, color: RED }, { value: 30, color: 'orange' }, { value: 60, color: GREEN }] },
        },
        { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorText } },
      ],
    });
}

export function balancesDashboard(): dashboard.DashboardBuilder {
  return dashboardBase(BALANCES_UID, 'Balances')
    .description('Available, used and total per wallet, wallet status, and lots that expire within 90 days.')
    .withVariable(accountVariable())
    .withVariable(walletTypeVariable())
    .withVariable(walletVariable())
    .withPanel(walletDonut())
    .withPanel(walletsTable())
    .withPanel(expiringLotsTable());
}
