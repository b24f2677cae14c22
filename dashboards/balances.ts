import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as piechart from '@grafana/grafana-foundation-sdk/piechart';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { clickhouse } from './clickhouse.js';
import { accountVariable, byNames, dashboardBase, GREEN, RED, statusMappings, walletFilter, walletTypeVariable, walletVariable } from './defaults.js';

/** The Balances page's views: a donut per wallet, every wallet's status, and what expires soon. */
export const BALANCES_UID = 'balances-overview';

/** Days until an instant, rounded up as the API's `days_left` is. */
const daysUntil = (column: string) => `toInt64(ceil((toUnixTimestamp64Milli(${column}) - toUnixTimestamp64Milli(now64(3))) / 86400000))`;

/**
 * Available and used of one wallet, repeated for every selected wallet. The available slice is
 * red at or below 20 % of the total and green above: its thresholds are percentages of the field's
 * range, whose maximum is the wallet's total (query B, applied by "config from query results").
 */
export function walletDonut(): piechart.PanelBuilder {
  return new piechart.PanelBuilder()
    .title('${wallet:text}')
    .description('Available and used of the lots active now; the available slice is red at or below 20 % of the total.')
    .repeat('wallet')
    .repeatDirection('h')
    .maxPerRow(6)
    .gridPos({ x: 0, y: 0, w: 4, h: 8 })
    .withTarget(
      clickhouse('A').table(`
        SELECT available, used
        FROM wallet_balances_v1
        WHERE account_id = \${account:singlequote} AND concat(toString(wallet_type), '/', wallet_id) IN (\${wallet:singlequote})
      `),
    )
    .withTarget(
      clickhouse('B').table(`
        SELECT total
        FROM wallet_balances_v1
        WHERE account_id = \${account:singlequote} AND concat(toString(wallet_type), '/', wallet_id) IN (\${wallet:singlequote})
      `),
    )
    .withTransformation({
      id: 'configFromData',
      options: { configRefId: 'B', mappings: [{ fieldName: 'total', handlerKey: 'max' }] },
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
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Percentage).steps([
        { value: null, color: RED },
        { value: 20, color: GREEN },
      ]),
    )
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .withOverride({ matcher: byNames('used'), properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'blue' } }] });
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
