import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { BalanceAggregator } from '../../aggregator/process.js';
import { DEMO_ACCOUNT, loadDemo } from '../../ingest/demo.js';
import { RED_FROM_SQL } from '../../dashboards/balances.js';
import { walletKeysIn } from '../../dashboards/defaults.js';
import { walletOf, type WalletKey } from '../../ledger/ledger.js';
import { usageBy } from '../../readmodels/usage.js';
import { freshStore, pipelineFor, silentLog } from '../support/store.js';
import { firingSeries, isNumericType, isTimeType, runAsGrafana, type SqlResult } from './support/chdb.js';
import { expandAlertQuery, expandPanelQuery, type TimeRange, type Variables } from './support/macros.js';
import { allPanels, alertRulesFile, dashboardFiles, type DashboardJson, type PanelJson } from './support/provisioning.js';

const DAY = 86_400_000;
let store: Store;
const now = Date.now();
const defaultRange: TimeRange = { from: now - 90 * DAY, to: now };
const customRange: TimeRange = { from: now - 250 * DAY, to: now - 150 * DAY };

beforeAll(async () => {
  store = await freshStore();
  await loadDemo(pipelineFor(store), now);
  await new BalanceAggregator({ store, log: silentLog }).recompute(DEMO_ACCOUNT);
}, 120_000);

afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
});

/** The columns each panel's query must return, with their kind, and the rows it must have. */
interface Expectation {
  columns: Record<string, 'number' | 'time' | 'text'>;
  /** Rows for the selection, where the demo data guarantees some. */
  rows: 'some' | 'one per wallet' | 'any';
}

function expectationFor(panel: PanelJson, refId: string): Expectation {
  switch (panel.type) {
    case 'piechart':
      return refId === 'A'
        ? { columns: { available: 'number', used: 'number' }, rows: 'one per wallet' }
        : { columns: { total: 'number', red_from: 'number' }, rows: 'one per wallet' };
    case 'barchart':
      return { columns: { [panel.options?.xField as string]: 'text', amount: 'number' }, rows: 'some' };
    case 'timeseries':
      // The daily balances cover the last 90 days and today: a range further back has none.
      if (panel.title === 'Balance history') return { columns: { time: 'time', wallet: 'text', available: 'number' }, rows: 'any' };
      return { columns: { time: 'time', amount: 'number' }, rows: 'some' };
    case 'table':
      if (panel.title === 'Wallets') {
        return { columns: { wallet: 'text', type: 'text', status: 'text', total: 'number', used: 'number', available: 'number', days_to_next_expiry: 'number' }, rows: 'one per wallet' };
      }
      if (panel.title === 'Expiring within 90 days') {
        return { columns: { wallet: 'text', lot_id: 'text', remaining: 'number', expires_at: 'time', days_left: 'number' }, rows: 'any' };
      }
      if (panel.title === 'Runs out') {
        return { columns: { wallet: 'text', type: 'text', runs_out_at: 'time', days_left: 'number', burn_rate_per_day: 'number', projected_unused_total: 'number' }, rows: 'one per wallet' };
      }
      if (panel.title === 'Expiring unused') return { columns: { wallet: 'text', lot_id: 'text', expires_at: 'time', days_left: 'number', projected_unused: 'number' }, rows: 'any' };
      if (panel.title === 'Token events') return { columns: { time: 'time', wallet: 'text', event: 'text', amount: 'number', lots: 'text' }, rows: 'some' };
  }
  throw new Error(`no expectation for panel "${panel.title}" (${panel.type})`);
}

function expectColumns(result: SqlResult, expectation: Expectation, label: string) {
  const types = new Map(result.meta.map((c) => [c.name, c.type]));
  for (const [column, kind] of Object.entries(expectation.columns)) {
    const type = types.get(column);
    expect(type, `${label}: no column ${column} in ${[...types.keys()].join(', ')}`).toBeDefined();
    if (kind === 'number') expect(isNumericType(type as string), `${label}: ${column} is ${type}`).toBe(true);
    if (kind === 'time') expect(isTimeType(type as string), `${label}: ${column} is ${type}`).toBe(true);
  }
}

/** Resolves the dashboard's variables by running their own queries, as Grafana does on load. */
async function resolveVariables(dashboard: DashboardJson, selection: { walletType?: string[]; wallets?: (all: string[]) => string[] }, range: TimeRange): Promise<Variables> {
  const variables: Variables = {};
  for (const variable of dashboard.templating.list) {
    const result = await runAsGrafana(store, expandPanelQuery(variable.query as string, variables, range));
    const options = result.data.map((row) => {
      const value = String(row.__value ?? Object.values(row)[0]);
      return { value, text: String(row.__text ?? value) };
    });
    expect(options.length, `variable ${variable.name} has no options`).toBeGreaterThan(0);
    let current: string[] | '$__all' = variable.includeAll ? '$__all' : [(options[0] as { value: string }).value];
    if (variable.name === 'account') current = [DEMO_ACCOUNT];
    if (variable.name === 'wallet_type' && selection.walletType) current = selection.walletType;
    if (variable.name === 'wallet' && selection.wallets) current = selection.wallets(options.map((o) => o.value));
    variables[variable.name] = { current, options, multi: variable.multi ?? false, ...(variable.allValue !== undefined ? { allValue: variable.allValue } : {}) };
  }
  return variables;
}

const selectedWallets = (variables: Variables) => {
  const wallet = variables.wallet;
  if (!wallet) return [];
  return wallet.current === '$__all' ? wallet.options.map((o) => o.value) : wallet.current;
};

async function runPanel(panel: PanelJson, variables: Variables, range: TimeRange, label: string) {
  for (const target of panel.targets ?? []) {
    const sql = expandPanelQuery(target.rawSql, variables, range);
    expect(sql, `${label}: unexpanded macro or variable`).not.toMatch(/\$/);
    const result = await runAsGrafana(store, sql);
    const expectation = expectationFor(panel, target.refId);
    expectColumns(result, expectation, `${label} ${target.refId}`);
    if (expectation.rows === 'some') expect(result.data.length, `${label} ${target.refId} has no rows`).toBeGreaterThan(0);
    if (expectation.rows === 'one per wallet') expect(result.data.length, `${label} ${target.refId}`).toBe(selectedWallets(variables).length);
    for (const [column, kind] of Object.entries(expectation.columns)) {
      if (kind !== 'time' || panel.type === 'table' && column !== 'time') continue;
      for (const row of result.data) {
        const t = Date.parse(`${String(row[column]).replace(' ', 'T')}Z`);
        expect(t, `${label}: ${column} ${String(row[column])} outside the range`).toBeGreaterThanOrEqual(range.from - DAY);
        expect(t).toBeLessThanOrEqual(range.to);
      }
    }
  }
}

/** All, one wallet and two wallets: the `$wallet` filter's three shapes (`1=1`, one key, a list). */
const SELECTIONS = [
  { name: 'every wallet (All), the last 90 days', range: defaultRange, selection: {}, expected: 24 },
  {
    name: 'one wallet (contract/apac), every wallet type, the last 90 days',
    range: defaultRange,
    selection: { wallets: (all: string[]) => all.filter((w) => w === 'contract/apac') },
    expected: ['contract/apac'],
  },
  {
    name: 'two teams, a custom range 250 to 150 days ago',
    range: customRange,
    selection: { walletType: ['team'], wallets: (all: string[]) => all.filter((w) => ['team/platform', 'team/mobile'].includes(w)) },
    expected: ['team/mobile', 'team/platform'],
  },
];

describe('every panel and variable query runs on chDB over the demo data, macros expanded as the plugin does', () => {
  for (const { file } of dashboardFiles()) {
    for (const { name, range, selection, expected } of SELECTIONS) {
      it(`${file}: ${name}`, async () => {
        const dashboard = dashboardFiles().find((d) => d.file === file)?.dashboard as DashboardJson;
        const variables = await resolveVariables(dashboard, selection, range);
        if (typeof expected === 'number') expect(selectedWallets(variables)).toHaveLength(expected);
        else expect(selectedWallets(variables)).toEqual(expected);
        for (const panel of allPanels(dashboard)) {
          await runPanel(panel, variables, range, `${file} "${panel.title}"`);
          if (!panel.repeat) continue;
          // Each repeated copy sees one value of the repeat variable.
          const repeatOver = variables[panel.repeat] as Variables[string];
          for (const value of selectedWallets(variables).slice(0, 6)) {
            await runPanel(panel, { ...variables, [panel.repeat]: { ...repeatOver, current: [value] } }, range, `${file} "${panel.title}" for ${value}`);
          }
        }
      });
    }
  }

  it("the donut's used slice is red exactly when the wallet's status is: Grafana's float comparison of used with query B's boundary", async () => {
    const balances = dashboardFiles().find((d) => d.dashboard.uid === 'balances-overview')?.dashboard as DashboardJson;
    const donut = balances.panels.find((p) => p.type === 'piechart') as PanelJson;
    const variables = await resolveVariables(balances, {}, defaultRange);
    const statuses = await runAsGrafana(store, `SELECT concat(toString(wallet_type), '/', wallet_id) AS w, toString(status) AS status FROM wallet_balances_v1 WHERE account_id = '${DEMO_ACCOUNT}'`);
    const colours = new Map<string, string>();
    for (const value of selectedWallets(variables)) {
      const one = { ...variables, wallet: { ...(variables.wallet as Variables[string]), current: [value] } };
      const [a, b] = await Promise.all(donut.targets?.map((t) => runAsGrafana(store, expandPanelQuery(t.rawSql, one, defaultRange))) ?? []);
      // Grafana: green below threshold1, red at or above it; values arrive as doubles.
      colours.set(value, Number(a?.data[0]?.used) >= Number(b?.data[0]?.red_from) ? 'red' : 'green');
    }
    expect(colours.size).toBe(24);
    for (const row of statuses.data) expect(colours.get(row.w as string), row.w as string).toBe(row.status);
    expect(new Set(colours.values())).toEqual(new Set(['red', 'green']));
  });

  it('the boundary is exact: red from 80 % used, rounded up to 0.0001', async () => {
    const sql = (total: string) => `SELECT toString(${RED_FROM_SQL}) AS red_from FROM (SELECT toDecimal128('${total}', 4) AS total)`;
    const cases: Array<[string, string]> = [['1000', '800'], ['1000.0001', '800.0001'], ['0.0004', '0.0004'], ['0', '0'], ['1000.0003', '800.0003'], ['999999999999.9999', '800000000000']];
    for (const [total, redFrom] of cases) {
      const [row] = (await runAsGrafana(store, sql(total))).data;
      expect(row?.red_from, total).toBe(redFrom);
    }
  });

  it('the wallet variable lists display names valued by wallet key, narrowed by the wallet type', async () => {
    const dashboard = dashboardFiles()[0]?.dashboard as DashboardJson;
    const variables = await resolveVariables(dashboard, { walletType: ['contract'] }, defaultRange);
    expect(variables.wallet?.options.map((o) => o.value).sort()).toEqual(['contract/africa', 'contract/apac', 'contract/latam', 'contract/mena']);
    for (const option of variables.wallet?.options ?? []) expect(option.text).toMatch(/\(contract\)$/);
  });

  it('the wallet filter selects exactly the picked wallets: a key splits at its first slash as walletOf does, and a quote in an id is escaped', async () => {
    const keys = ['team/a/b', "team/o'neil", 'contract/a'];
    const candidates = ['team/a', 'team/a/b', 'team/b', "team/o'neil", 'contract/a', 'contract/a/b'].map((k) => walletOf(k as WalletKey));
    const wallet = { current: keys, options: keys.map((k) => ({ value: k, text: k })), multi: true };
    const rows = candidates.map((c) => `('${c.type}', '${c.id.replaceAll("'", "\\'")}')`).join(', ');
    const sql = expandPanelQuery(
      `SELECT toString(wallet_type) AS type, wallet_id AS id
       FROM (SELECT CAST(c.1, 'Enum8(''team'' = 1, ''contract'' = 2)') AS wallet_type, c.2 AS wallet_id FROM (SELECT arrayJoin([${rows}]) AS c))
       WHERE ${walletKeysIn()}
       ORDER BY type, id`,
      { wallet },
      defaultRange,
    );
    const selected = (await runAsGrafana(store, sql)).data;
    expect(selected).toEqual(keys.map((k) => walletOf(k as WalletKey)).sort((a, b) => `${a.type}/${a.id}`.localeCompare(`${b.type}/${b.id}`)));
  });

  it('with one or two wallets picked, every balance table is read through its primary key on (wallet_type, wallet_id)', async () => {
    const balanceTables = /^(wallet_balance_versions_v1|lot_balance_versions_v1|token_event_versions_v1|wallet_forecast_versions_v1|lot_forecast_versions_v1|daily_balance_versions_v1)$/;
    let checked = 0;
    for (const picked of [['contract/apac'], ['team/mobile', 'team/platform']]) {
      for (const { file, dashboard } of dashboardFiles()) {
        const variables = await resolveVariables(dashboard, { wallets: () => picked }, defaultRange);
        for (const panel of allPanels(dashboard)) {
          for (const target of panel.targets ?? []) {
            const plan = (await runAsGrafana(store, `EXPLAIN indexes = 1 ${expandPanelQuery(target.rawSql, variables, defaultRange)}`)).data.map((r) => String(Object.values(r)[0])).join('\n');
            for (const read of plan.split('ReadFromMergeTree (').slice(1)) {
              const table = /^(?:\w+\.)?(\w+)\)/.exec(read)?.[1] ?? '';
              if (!balanceTables.test(table)) continue;
              const condition = /Condition: (.*)/.exec(read)?.[1] ?? '';
              expect(condition, `${file} "${panel.title}" ${target.refId} reads ${table} for ${picked.join(', ')}`).toContain('(wallet_type, wallet_id) in');
              checked++;
            }
          }
        }
      }
    }
    // The donut's two queries, the Wallets and Expiring tables, Token events, Runs out, Expiring
    // unused and the balance history's two parts, each with one and two wallets.
    expect(checked).toBeGreaterThanOrEqual(2 * 9);
  });

  it('usage panels answer for the picked range: the custom range sums differ from the default one', async () => {
    const usage = dashboardFiles().find((d) => d.dashboard.uid === 'balances-usage')?.dashboard as DashboardJson;
    const bars = usage.panels.find((p) => p.title === 'Usage by service') as PanelJson;
    const totals: number[] = [];
    for (const range of [defaultRange, customRange]) {
      const variables = await resolveVariables(usage, {}, range);
      const result = await runAsGrafana(store, expandPanelQuery(bars.targets?.[0]?.rawSql as string, variables, range));
      totals.push(result.data.reduce((s, r) => s + Number(r.amount), 0));
    }
    expect(totals[0]).toBeGreaterThan(0);
    expect(totals[1]).toBeGreaterThan(0);
    expect(totals[0]).not.toBeCloseTo(totals[1] as number, 0);
  });

  it('usage panels equal the API’s usage for the range, voided usage left out', async () => {
    const usage = dashboardFiles().find((d) => d.dashboard.uid === 'balances-usage')?.dashboard as DashboardJson;
    // Whole seconds, as Grafana's time filter compares them; its upper end is inclusive.
    const range = { from: Math.floor((now - 90 * DAY) / 1000) * 1000, to: Math.floor(now / 1000) * 1000 };
    const variables = await resolveVariables(usage, {}, range);
    const [voided] = await store.queryRows<{ n: string }>(
      `SELECT count() AS n FROM ${store.table('voided_usage_v2')} FINAL WHERE account_id = {account:String} AND occurred_at >= fromUnixTimestamp64Milli({from:Int64})`,
      { account: DEMO_ACCOUNT, from: range.from },
    );
    expect(Number(voided?.n), 'the demo data voids usage inside the range').toBeGreaterThan(0);
    const query = (groupBy: 'service' | 'user' | 'day') => usageBy(store, { accountId: DEMO_ACCOUNT, from: range.from, to: range.to + 1, groupBy, tz: 'UTC' });
    for (const [title, groupBy] of [['Usage by service', 'service'], ['Usage by user', 'user']] as const) {
      const panel = usage.panels.find((p) => p.title === title) as PanelJson;
      expect(panel, title).toBeDefined();
      const label = panel.options?.xField as string;
      const result = await runAsGrafana(store, expandPanelQuery(panel.targets?.[0]?.rawSql as string, variables, range));
      const expected = (await query(groupBy)).filter((r) => r.events > 0).slice(0, 25).map((r) => [r.key, Number(r.amount).toFixed(4)]);
      expect(result.data.map((r) => [String(r[label]), Number(r.amount).toFixed(4)]), title).toEqual(expected);
    }
    const daily = usage.panels.find((p) => p.type === 'timeseries') as PanelJson;
    const result = await runAsGrafana(store, expandPanelQuery(daily.targets?.[0]?.rawSql as string, variables, range));
    const total = (amounts: number[]) => amounts.reduce((a, b) => a + b, 0).toFixed(4);
    expect(total(result.data.map((r) => Number(r.amount)))).toBe(total((await query('day')).map((r) => Number(r.amount))));
  });
});

describe('the Forecast dashboard over the demo data', () => {
  const forecast = () => dashboardFiles().find((d) => d.dashboard.uid === 'balances-forecast')?.dashboard as DashboardJson;
  const panelRows = async (title: string, variables: Variables, range: TimeRange) => {
    const panel = forecast().panels.find((p) => p.title === title) as PanelJson;
    return (await runAsGrafana(store, expandPanelQuery(panel.targets?.[0]?.rawSql as string, variables, range))).data;
  };

  it('lists every wallet with its run-out, soonest first, and the lots forecast to expire unused, as the forecast tables hold them', async () => {
    const variables = await resolveVariables(forecast(), {}, defaultRange);
    const runsOut = await panelRows('Runs out', variables, defaultRange);
    expect(runsOut).toHaveLength(24);
    const dated = runsOut.filter((r) => r.runs_out_at !== null);
    // Wallets that do not run out within two years come last.
    expect(dated.length).toBeGreaterThan(0);
    expect(runsOut.slice(0, dated.length)).toEqual(dated);
    const times = dated.map((r) => String(r.runs_out_at));
    expect(times).toEqual([...times].sort());
    for (const row of dated) expect(Number(row.days_left)).toBeGreaterThanOrEqual(0);
    const unused = await panelRows('Expiring unused', variables, defaultRange);
    expect(unused.length, 'the demo data has teams that waste').toBeGreaterThan(0);
    const [stored] = await store.queryRows<{ total: string }>(
      `SELECT toString(sum(projected_unused)) AS total FROM ${store.table('lot_forecasts_v1')} WHERE account_id = {account:String} AND expires_at > now64(3)`,
      { account: DEMO_ACCOUNT },
    );
    expect(unused.reduce((sum, r) => sum + Number(r.projected_unused), 0)).toBeCloseTo(Number(stored?.total), 2);
  });

  it('charts one available per wallet and UTC day over the last 90 days, today’s being the balance now, and nothing before the history starts', async () => {
    const variables = await resolveVariables(forecast(), { wallets: (all) => all.filter((w) => ['team/platform', 'team/mobile'].includes(w)) }, defaultRange);
    const points = await panelRows('Balance history', variables, defaultRange);
    const byWallet = new Map<string, Array<Record<string, unknown>>>();
    for (const point of points) byWallet.set(String(point.wallet), [...(byWallet.get(String(point.wallet)) ?? []), point]);
    const now = await store.queryRows<{ wallet: string; available: string }>(
      `SELECT concat(name, ' (', toString(wallet_type), ')') AS wallet, toString(available) AS available FROM ${store.table('wallet_balances_v1')}
       WHERE account_id = {account:String} AND wallet_id IN ('platform', 'mobile')`,
      { account: DEMO_ACCOUNT },
    );
    expect([...byWallet.keys()].sort()).toEqual(now.map((n) => n.wallet).sort());
    for (const [wallet, series] of byWallet) {
      const days = series.map((p) => String(p.time).slice(0, 10));
      // One point a day: the range's first day is cut by the picker where it starts mid-day.
      expect(new Set(days).size, wallet).toBe(days.length);
      expect(days.length, wallet).toBeGreaterThanOrEqual(90);
      expect(days.at(-1), wallet).toBe(new Date(Date.now()).toISOString().slice(0, 10));
      expect(Number(series.at(-1)?.available)).toBeCloseTo(Number(now.find((n) => n.wallet === wallet)?.available), 4);
    }
    expect(await panelRows('Balance history', variables, customRange)).toEqual([]);
  });
});

describe('every alert rule query runs on chDB over the demo data', () => {
  for (const rule of alertRulesFile().groups.flatMap((g) => g.rules)) {
    it(`${rule.title}: one numeric column plus account and wallet labels, one row per wallet, some firing`, async () => {
      for (const range of [defaultRange, customRange]) {
        const sql = expandAlertQuery(rule.data[0]?.model.rawSql as string, range);
        const result = await runAsGrafana(store, sql);
        expect(result.meta.filter((c) => isNumericType(c.type))).toHaveLength(1);
        expect(result.meta.map((c) => c.name)).toEqual(expect.arrayContaining(['account', 'wallet']));
        expect(result.data).toHaveLength(24);
        const firing = firingSeries(result);
        expect(firing.length).toBeGreaterThan(0);
        expect(firing.length).toBeLessThan(24);
      }
    });
  }
});
