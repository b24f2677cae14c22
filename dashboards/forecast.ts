import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { clickhouse } from './clickhouse.js';
import { accountVariable, byNames, dashboardBase, GREEN, RED, walletFilter, walletTypeVariable, walletVariable } from './defaults.js';

/**
 * What comes next at the current pace (SPEC section 5): when each wallet runs out, which lots
 * will expire with something left, and each wallet's available day by day. Reads the forecast
 * and daily balance tables the aggregator writes with every snapshot (migration 029).
 */
export const FORECAST_UID = 'balances-forecast';

/** Whole days from now until an instant, rounded up as the API's `days_left` is; 0 once it has passed. */
const daysUntil = (column: string) => `greatest(toInt64(0), toInt64(ceil((toUnixTimestamp64Milli(${column}) - toUnixTimestamp64Milli(now64(3))) / 86400000)))`;

/** Red within 30 days (the runs-out alert), orange within 90, else green. */
const daysLeftColours = {
  matcher: byNames('days_left'),
  properties: [
    { id: 'thresholds', value: { mode: dashboard.ThresholdsMode.Absolute, steps: [{ value: null, color: RED }, { value: 30, color: 'orange' }, { value: 90, color: GREEN }] } },
    { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorText } },
  ],
};

/** Every selected wallet's burn rate and run-out, soonest first; wallets that do not run out within two years last. */
export function runsOutTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Runs out')
    .description(
      'At the burn rate of the last window_days days (usage ÷ days), drawn from the lots by burn-down order, lots starting and expiring as they will. ' +
        'Empty when the wallet does not run out within 730 days.',
    )
    .gridPos({ x: 0, y: 0, w: 12, h: 10 })
    .withTarget(
      clickhouse('A').table(`
        SELECT name AS wallet, toString(wallet_type) AS type, runs_out_at,
               if(runs_out_at IS NULL, NULL, ${daysUntil('assumeNotNull(runs_out_at)')}) AS days_left,
               burn_rate_per_day, window_days, projected_unused_total
        FROM wallet_forecasts_v1
        WHERE ${walletFilter()}
        ORDER BY runs_out_at IS NULL, runs_out_at, burn_rate_per_day DESC, wallet
      `),
    )
    .withOverride(daysLeftColours);
}

/** Lots the projection leaves something in when they expire, soonest expiry first. */
export function expiringUnusedTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Expiring unused')
    .description('What each lot is projected to leave unused when it expires, at its wallet’s current burn rate. Move it to a wallet that runs out first to use it.')
    .gridPos({ x: 12, y: 0, w: 12, h: 10 })
    .withTarget(
      clickhouse('A').table(`
        SELECT w.name AS wallet, toString(l.wallet_type) AS type, l.lot_id AS lot_id, l.expires_at AS expires_at,
               ${daysUntil('l.expires_at')} AS days_left, l.projected_unused AS projected_unused
        FROM lot_forecasts_v1 AS l
        LEFT JOIN wallet_forecasts_v1 AS w ON w.account_id = l.account_id AND w.wallet_type = l.wallet_type AND w.wallet_id = l.wallet_id
        WHERE ${walletFilter('l')}
          AND l.expires_at > now64(3)
        ORDER BY l.expires_at, wallet, lot_id
      `),
    )
    .withOverride(daysLeftColours);
}

/**
 * Available per wallet and UTC day over the picked range: each closed day's balance at its end
 * (`daily_balances_v1`, the last 90 days), and today's as it stands now (`wallet_balances_v1`).
 * One series per wallet: the plugin turns the text column into series.
 */
export function balanceHistory(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Balance history')
    .description('Available at the end of each UTC day; today’s point is the balance now.')
    .gridPos({ x: 0, y: 10, w: 24, h: 10 })
    .withTarget(
      clickhouse('A').timeSeries(`
        SELECT toDateTime(day, 'UTC') AS time, wallet, available
        FROM (
          SELECT d.day AS day, concat(if(w.name = '', d.wallet_id, w.name), ' (', toString(d.wallet_type), ')') AS wallet, d.available AS available
          FROM daily_balances_v1 AS d
          LEFT JOIN wallet_balances_v1 AS w ON w.account_id = d.account_id AND w.wallet_type = d.wallet_type AND w.wallet_id = d.wallet_id
          WHERE ${walletFilter('d')}
          UNION ALL
          SELECT toDate(computed_at) AS day, concat(name, ' (', toString(wallet_type), ')') AS wallet, available
          FROM wallet_balances_v1
          WHERE ${walletFilter()}
        )
        WHERE $__dateFilter(day)
        ORDER BY time, wallet
      `),
    )
    .drawStyle(common.GraphDrawStyle.Line)
    .lineInterpolation(common.LineInterpolation.StepAfter)
    .showPoints(common.VisibilityMode.Never)
    .fillOpacity(10)
    .decimals(2)
    .min(0)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom));
}

export function forecastDashboard(): dashboard.DashboardBuilder {
  return dashboardBase(FORECAST_UID, 'Forecast')
    .description('When each wallet runs out at its current burn rate, which lots will expire with something left, and available day by day.')
    .withVariable(accountVariable())
    .withVariable(walletTypeVariable())
    .withVariable(walletVariable())
    .withPanel(runsOutTable())
    .withPanel(expiringUnusedTable())
    .withPanel(balanceHistory());
}
