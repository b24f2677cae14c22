import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { clickhouse } from './clickhouse.js';
import { accountVariable, dashboardBase, walletFilter, walletTypeVariable, walletVariable } from './defaults.js';

/**
 * Usage over the picked range. Reads `net_usage_v1`: usage events in time order, each voided
 * one with a second row of the amount negated and -1 event, so sums are net of voids.
 */
export const USAGE_UID = 'balances-usage';

const usageWhere = `${walletFilter()}\n  AND $__timeFilter(occurred_at)`;

function usageBars(title: string, column: string, label: string): barchart.PanelBuilder {
  return new barchart.PanelBuilder()
    .title(title)
    .withTarget(
      clickhouse('A').table(`
        SELECT ${column} AS ${label}, sum(amount) AS amount
        FROM net_usage_v1
        WHERE ${usageWhere}
        GROUP BY ${label}
        HAVING sum(events) > 0
        ORDER BY amount DESC, ${label}
        LIMIT 25
      `),
    )
    .xField(label)
    .orientation(common.VizOrientation.Horizontal)
    .showValue(common.VisibilityMode.Auto)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
    .decimals(2)
    .min(0);
}

/** The 25 services that used the most in the range. */
export function usageByService(): barchart.PanelBuilder {
  return usageBars('Usage by service', 'service', 'service').gridPos({ x: 0, y: 8, w: 12, h: 12 });
}

/** The 25 users who used the most in the range. */
export function usageByUser(): barchart.PanelBuilder {
  return usageBars('Usage by user', 'user_id', 'user').gridPos({ x: 12, y: 8, w: 12, h: 12 });
}

/** Usage per UTC day. */
export function dailyUsage(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Daily usage')
    .gridPos({ x: 0, y: 0, w: 24, h: 8 })
    .withTarget(
      clickhouse('A').timeSeries(`
        SELECT toStartOfDay(occurred_at) AS time, sum(amount) AS amount
        FROM net_usage_v1
        WHERE ${usageWhere}
        GROUP BY time
        HAVING sum(events) > 0
        ORDER BY time
      `),
    )
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(80)
    .decimals(2)
    .min(0)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom));
}

export function usageDashboard(): dashboard.DashboardBuilder {
  return dashboardBase(USAGE_UID, 'Usage details')
    .description('Usage by service, by user and by day over the picked range, net of voided events.')
    .withVariable(accountVariable())
    .withVariable(walletTypeVariable())
    .withVariable(walletVariable())
    .withPanel(dailyUsage())
    .withPanel(usageByService())
    .withPanel(usageByUser());
}
