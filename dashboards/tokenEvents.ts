import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { clickhouse } from './clickhouse.js';
import { accountVariable, byNames, dashboardBase, walletFilter, walletTypeVariable, walletVariable } from './defaults.js';

/** Purchases, expiries and moves in and out, as the ledger reports them. */
export const TOKEN_EVENTS_UID = 'balances-token-events';

/** Token events in the picked range, newest first. */
export function tokenEventsTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Token events')
    .gridPos({ x: 0, y: 0, w: 24, h: 20 })
    .withTarget(
      clickhouse('A').table(`
        SELECT e.occurred_at AS time, w.name AS wallet, toString(e.wallet_type) AS type, toString(e.type) AS event,
               e.amount AS amount, arrayStringConcat(e.lot_ids, ', ') AS lots,
               if(e.counterparty_id = '', '', concat(toString(e.counterparty_type), '/', e.counterparty_id)) AS counterparty,
               e.shortfall AS shortfall, e.event_id AS event_id
        FROM token_events_v1 AS e
        LEFT JOIN wallet_balances_v1 AS w ON w.account_id = e.account_id AND w.wallet_type = e.wallet_type AND w.wallet_id = e.wallet_id
        WHERE ${walletFilter('e')}
          AND $__timeFilter(e.occurred_at)
        ORDER BY e.occurred_at DESC, e.event_id, event
        LIMIT 1000
      `),
    )
    // Only the event column holds these texts, so the mapping can sit in the defaults.
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          purchased: { text: 'purchased', color: 'green', index: 0 },
          expired: { text: 'expired', color: 'red', index: 1 },
          moved_in: { text: 'moved in', color: 'blue', index: 2 },
          moved_out: { text: 'moved out', color: 'orange', index: 3 },
        },
      },
    ])
    .withOverride({ matcher: byNames('event'), properties: [{ id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorText } }] });
}

export function tokenEventsDashboard(): dashboard.DashboardBuilder {
  return dashboardBase(TOKEN_EVENTS_UID, 'Token events')
    .description('Purchased, expired, moved in and moved out, in the picked range.')
    .withVariable(accountVariable())
    .withVariable(walletTypeVariable())
    .withVariable(walletVariable())
    .withPanel(tokenEventsTable());
}
