import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { clickhouseTargetSchema, DATASOURCE_UID } from '../../dashboards/clickhouse.js';
import { generatedFiles } from '../../dashboards/files.js';
import { conditionalAllArguments, expandAlertQuery, expandMacros, interpolateVariables, type Variables } from './support/macros.js';
import { allPanels, alertRulesFile, dashboardFiles, datasourcesFile, PROVISIONING, yamlFile } from './support/provisioning.js';
import { filterConditions, keyColumnsBehindFunctions } from './support/sqlFilters.js';

const SCHEMAS = '/work/shared/grafana';
const schema = (name: string) => JSON.parse(readFileSync(join(SCHEMAS, `${name}.schema.json`), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ strict: false, allErrors: true });
const dashboardSchema = schema('dashboard');
ajv.addSchema(dashboardSchema, 'dashboard');
const validateDashboard = ajv.compile({ $ref: 'dashboard#/definitions/Dashboard' });
const validateTarget = ajv.compile(clickhouseTargetSchema);
const PANEL_SCHEMAS: Record<string, string> = { piechart: 'piechart', barchart: 'barchart', table: 'table', timeseries: 'timeseries', stat: 'stat', gauge: 'gauge', bargauge: 'bargauge' };
for (const name of new Set(Object.values(PANEL_SCHEMAS))) ajv.addSchema(schema(name), name);
const alertingSchema = schema('alerting');
ajv.addSchema(alertingSchema, 'alerting');

const errors = (validate: { errors?: unknown }) => JSON.stringify(validate.errors, null, 2);
const dashboards = dashboardFiles();

describe('generated provisioning', () => {
  it('the committed dashboards and alert rules are exactly what `npm run dashboards` writes', () => {
    for (const file of generatedFiles()) {
      expect(readFileSync(join(PROVISIONING, file.path), 'utf8'), `provisioning/${file.path} is stale: run npm run dashboards`).toBe(file.text);
    }
    expect(dashboards.map((d) => d.file)).toEqual(['balances.json', 'forecast.json', 'token-events.json', 'usage-details.json']);
  });

  it('every dashboard validates against the dashboard schema, with a stable uid, the last 90 days by default and the time picker shown', () => {
    for (const { file, dashboard } of dashboards) {
      expect(validateDashboard(dashboard), `${file}: ${errors(validateDashboard)}`).toBe(true);
      expect(dashboard.uid).toMatch(/^balances-[a-z-]+$/);
      expect(dashboard.time).toEqual({ from: 'now-90d', to: 'now' });
      expect((dashboard as unknown as { timepicker?: { hidden?: boolean } }).timepicker?.hidden).not.toBe(true);
    }
    expect(new Set(dashboards.map((d) => d.dashboard.uid)).size).toBe(dashboards.length);
  });

  it("every panel's options and field config validate against its panel schema, and every target against the ClickHouse target schema", () => {
    for (const { dashboard } of dashboards) {
      for (const panel of allPanels(dashboard)) {
        const name = PANEL_SCHEMAS[panel.type];
        expect(name, `no schema for panel type ${panel.type}`).toBeDefined();
        const options = ajv.getSchema(`${name}#/definitions/Options`) ?? ajv.compile({ $ref: `${name}#/definitions/Options` });
        expect(options(panel.options ?? {}), `${panel.title} options: ${errors(options)}`).toBe(true);
        const custom = ajv.compile({ $ref: `${name}#/definitions/FieldConfig` });
        expect(custom(panel.fieldConfig?.defaults?.custom ?? {}), `${panel.title} custom: ${errors(custom)}`).toBe(true);
        expect(panel.targets?.length, `${panel.title} has no query`).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) expect(validateTarget(target), `${panel.title} ${target.refId}: ${errors(validateTarget)}`).toBe(true);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        expect(new Set(refIds).size, `${panel.title}: duplicate refIds`).toBe(refIds.length);
        for (const t of panel.transformations ?? []) {
          if (t.options.configRefId !== undefined) expect(refIds, `${panel.title}: transformation reads a missing query`).toContain(t.options.configRefId);
        }
      }
    }
  });

  it('every datasource uid a panel, variable or alert rule uses is provisioned, for the official ClickHouse plugin', () => {
    const provisioned = datasourcesFile().datasources;
    expect(provisioned).toEqual([expect.objectContaining({ uid: DATASOURCE_UID, type: 'grafana-clickhouse-datasource' })]);
    const uids = new Set(provisioned.map((d) => d.uid));
    const used: string[] = [];
    for (const { dashboard } of dashboards) {
      for (const panel of allPanels(dashboard)) for (const t of panel.targets ?? []) used.push(t.datasource.uid ?? '');
      for (const v of dashboard.templating.list) if (v.datasource?.uid) used.push(v.datasource.uid);
    }
    for (const rule of alertRulesFile().groups.flatMap((g) => g.rules)) {
      for (const q of rule.data) if (q.datasourceUid !== '__expr__') used.push(q.datasourceUid);
    }
    expect(used.length).toBeGreaterThan(10);
    for (const uid of used) expect(uids.has(uid), `datasource ${uid} is not provisioned`).toBe(true);
  });

  it('every variable a query or title uses is defined on its dashboard, and repeats use a multi-value variable', () => {
    for (const { dashboard } of dashboards) {
      const defined = new Map(dashboard.templating.list.map((v) => [v.name, v]));
      const texts = [
        ...allPanels(dashboard).flatMap((p) => [p.title ?? '', ...(p.targets ?? []).map((t) => t.rawSql)]),
        ...dashboard.templating.list.map((v) => v.query ?? ''),
      ];
      for (const text of texts) {
        for (const m of text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)/g)) {
          expect(defined.has((m[1] ?? m[2]) as string), `${dashboard.uid}: $${m[1] ?? m[2]} is not defined`).toBe(true);
        }
      }
      for (const panel of allPanels(dashboard).filter((p) => p.repeat)) expect(defined.get(panel.repeat as string)?.multi).toBe(true);
    }
    const usage = dashboards.find((d) => d.dashboard.uid === 'balances-usage')?.dashboard;
    for (const name of ['wallet_type', 'wallet']) {
      expect(usage?.templating.list.find((v) => v.name === name)).toMatchObject({ type: 'query', includeAll: true });
    }
  });

  it('the Balances donut is repeated per wallet, its used slice green, and red when available is at or below 20 % of the total', () => {
    const balances = dashboards.find((d) => d.dashboard.uid === 'balances-overview')?.dashboard;
    const donut = balances?.panels.find((p) => p.type === 'piechart');
    expect(donut).toMatchObject({ repeat: 'wallet', options: { pieType: 'donut' } });
    expect(donut?.fieldConfig?.defaults).toMatchObject({
      min: 0,
      color: { mode: 'thresholds' },
      thresholds: { mode: 'percentage', steps: [{ value: null, color: 'green' }, { value: 80, color: 'red' }] },
    });
    // Grafana's threshold1 handler makes the steps green, then red from the value: the exact boundary.
    expect(donut?.transformations).toEqual([
      { id: 'configFromData', options: { configRefId: 'B', mappings: [{ fieldName: 'total', handlerKey: 'max' }, { fieldName: 'red_from', handlerKey: 'threshold1' }] } },
    ]);
  });

  it('alert rules are file provisioning: a ClickHouse query, reduce and threshold, with a condition naming an existing refId and a summary naming the wallet', () => {
    const file = alertRulesFile();
    expect(file.apiVersion).toBe(1);
    const rules = file.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.title)).toEqual(['Low balance', 'Expiring within 90 days', 'Runs out within 30 days', 'Expiring unused within 90 days']);
    const validateRule = ajv.compile({ $ref: 'alerting#/definitions/Rule' });
    for (const group of file.groups) {
      expect(group.interval).toMatch(/^\d+[smh]$/);
      for (const rule of group.rules) {
        const refIds = rule.data.map((d) => d.refId);
        expect(refIds).toContain(rule.condition);
        for (const step of rule.data) {
          const expression = step.model.expression as string | undefined;
          if (expression !== undefined) expect(refIds, `${rule.title}: ${step.refId} reads ${expression}`).toContain(expression);
        }
        expect(rule.data[0]?.model).toMatchObject({ format: 1, queryType: 'table', editorType: 'sql' });
        expect(rule.annotations.summary).toContain('{{ $labels.wallet }}');
        // Grafana interpolates environment variables in everything but annotations.
        expect(JSON.stringify({ data: rule.data, labels: rule.labels })).not.toContain('$');
        expect(() => expandAlertQuery(rule.data[0]?.model.rawSql as string, { from: 0, to: 1 })).not.toThrow();
        const httpShape = { ...rule, orgID: group.orgId, folderUID: 'balances', ruleGroup: group.name };
        expect(validateRule(httpShape), `${rule.title}: ${errors(validateRule)}`).toBe(true);
      }
    }
  });

  it('the webhook contact point takes its URL from the environment, and the policy routes to it', () => {
    const file = yamlFile<{ apiVersion: number; contactPoints: Array<{ name: string; receivers: Array<{ uid: string; type: string; settings: Record<string, unknown> }> }>; policies: Array<Record<string, unknown>> }>(
      'alerting/contact-points.yaml',
    );
    const validateContactPoint = ajv.compile({ $ref: 'alerting#/definitions/ContactPoint' });
    const validatePolicy = ajv.compile({ $ref: 'alerting#/definitions/NotificationPolicy' });
    for (const point of file.contactPoints) {
      for (const receiver of point.receivers) {
        expect(receiver).toMatchObject({ type: 'webhook', settings: { url: '${GRAFANA_ALERT_WEBHOOK_URL}' } });
        expect(validateContactPoint({ name: point.name, ...receiver }), errors(validateContactPoint)).toBe(true);
      }
    }
    for (const policy of file.policies) {
      const { orgId: _orgId, ...shape } = policy;
      expect(validatePolicy(shape), errors(validatePolicy)).toBe(true);
      expect(file.contactPoints.map((p) => p.name)).toContain(policy.receiver);
    }
  });
});

/** Every query Grafana runs: panel targets and variables of each dashboard, and the alert rules. */
function everyQuery(): Array<{ label: string; sql: string }> {
  const queries: Array<{ label: string; sql: string }> = [];
  for (const { file, dashboard } of dashboards) {
    for (const panel of allPanels(dashboard)) for (const t of panel.targets ?? []) queries.push({ label: `${file} "${panel.title}" ${t.refId}`, sql: t.rawSql });
    for (const v of dashboard.templating.list) if (v.query) queries.push({ label: `${file} $${v.name}`, sql: v.query });
  }
  for (const rule of alertRulesFile().groups.flatMap((g) => g.rules)) queries.push({ label: `alert "${rule.title}"`, sql: rule.data[0]?.model.rawSql as string });
  return queries;
}

describe('wallet filters compare the key columns themselves, so the primary key (account_id, wallet_type, wallet_id) applies', () => {
  it('no panel, variable or alert query filters wallets through concat(...) or another function of wallet_type or wallet_id', () => {
    const queries = everyQuery();
    expect(queries.length).toBeGreaterThan(10);
    for (const { label, sql } of queries) expect(keyColumnsBehindFunctions(sql), label).toEqual([]);
  });

  it('every query that takes $wallet compares (wallet_type, wallet_id) with the picked keys, and $wallet_type compares wallet_type', () => {
    let walletQueries = 0;
    for (const { label, sql } of everyQuery()) {
      const conditions = filterConditions(sql).join('\n');
      if (sql.includes('${wallet:')) {
        walletQueries++;
        expect(conditions, label).toMatch(/\((\w+\.)?wallet_type, (\w+\.)?wallet_id\) IN \(SELECT .*\[\$\{wallet:singlequote\}\]/);
      }
      if (sql.includes('${wallet_type:')) expect(conditions, label).toMatch(/\$__conditionalAll\((\w+\.)?wallet_type IN \(\$\{wallet_type:singlequote\}\), \$wallet_type\)/);
    }
    // The donut's two queries, Wallets, Expiring, Token events, the three usage panels, and the
    // Forecast dashboard's Runs out, Expiring unused and Balance history.
    expect(walletQueries).toBe(11);
  });

  it('the check catches a wallet filter through concat(...) or toString(...), and lets a concat column or a join on the key columns through', () => {
    expect(keyColumnsBehindFunctions("SELECT x FROM t WHERE a = 1 AND concat(toString(wallet_type), '/', wallet_id) IN ('team/a')")).not.toEqual([]);
    expect(keyColumnsBehindFunctions("SELECT x FROM t AS e WHERE $__conditionalAll(concat(toString(e.wallet_type), '/', e.wallet_id) IN (${wallet:singlequote}), $wallet) ORDER BY x")).not.toEqual([]);
    expect(keyColumnsBehindFunctions('SELECT x FROM t WHERE toString(wallet_type) IN (${wallet_type:singlequote})')).not.toEqual([]);
    expect(keyColumnsBehindFunctions('SELECT sum(x) FROM t GROUP BY k HAVING any(wallet_id) = 1')).not.toEqual([]);
    expect(
      keyColumnsBehindFunctions(
        "SELECT concat(toString(w.wallet_type), '/', w.wallet_id) AS wallet FROM w LEFT JOIN l ON l.wallet_type = w.wallet_type AND l.wallet_id = w.wallet_id WHERE w.name = 'concat(wallet_id)' GROUP BY wallet ORDER BY concat(wallet_id)",
      ),
    ).toEqual([]);
  });

  it("the plugin finds a condition and a variable in every $__conditionalAll, counting brackets as it does", () => {
    const macro = '$__conditionalAll(';
    let seen = 0;
    for (const { label, sql } of everyQuery()) {
      for (let at = sql.indexOf(macro); at >= 0; at = sql.indexOf(macro, at + 1)) {
        const args = conditionalAllArguments(sql, at + macro.length - 1);
        expect(args, `${label}: ${sql.slice(at, at + 80)}`).toHaveLength(2);
        expect(args[1]?.trim(), label).toMatch(/^\$\w+$/);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(10);
  });
});

describe("the tests' macro expansion follows the plugin's README", () => {
  const range = { from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2, 0, 0, 1, 999) };
  const vars: Variables = {
    account: { current: ['acme'], options: [{ value: 'acme', text: 'acme' }], multi: false },
    wallet: { current: '$__all', options: [{ value: "team/o'neil", text: 'Team' }, { value: 'team/b', text: 'B' }], multi: true },
    one: { current: ['team/b'], options: [{ value: 'team/b', text: 'B' }], multi: true },
  };

  it('time macros use whole seconds, milliseconds and dates of the range', () => {
    expect(expandMacros('WHERE $__timeFilter(t) -- $__fromTime\nAND $__timeFilter_ms(t)', range)).toBe(
      'WHERE t >= toDateTime(1767225600) AND t <= toDateTime(1767312001) \nAND t >= fromUnixTimestamp64Milli(1767225600000) AND t <= fromUnixTimestamp64Milli(1767312001999)',
    );
    expect(expandMacros('$__dateFilter(d) $__fromTime $__toTime_ms $__timeInterval(t) $__unknown', range, 0.2)).toBe(
      "d >= toDate('2026-01-01') AND d <= toDate('2026-01-02') toDateTime(1767225600) fromUnixTimestamp64Milli(1767312001999) toStartOfInterval(toDateTime(t), INTERVAL 1 second) $__unknown",
    );
  });

  it('conditionalAll is 1=1 for All, variables are quoted and escaped as formatted', () => {
    expect(interpolateVariables('$__conditionalAll(w IN (${wallet:singlequote}), $wallet) AND a = ${account:singlequote}', vars)).toBe("1=1 AND a = 'acme'");
    expect(interpolateVariables('$__conditionalAll(w IN (${one:singlequote}), $one)', vars)).toBe("w IN ('team/b')");
    expect(interpolateVariables('${wallet:singlequote} ${wallet:csv} $wallet $account ${one:text}', vars)).toBe(
      "'team/o\\'neil','team/b' team/o'neil,team/b 'team/o\\'neil','team/b' acme B",
    );
    expect(() => interpolateVariables('$missing', vars)).toThrow(/not defined/);
  });

  it("conditionalAll's arguments split as the plugin splits them: commas in brackets stay in the condition, a bare one in quotes or square brackets breaks it", () => {
    expect(interpolateVariables('$__conditionalAll((a, b) IN (SELECT f(k, 1), g(k) FROM (SELECT arrayJoin([${one:singlequote}]) AS k)), $one) AND 1', vars)).toBe(
      "(a, b) IN (SELECT f(k, 1), g(k) FROM (SELECT arrayJoin(['team/b']) AS k)) AND 1",
    );
    expect(interpolateVariables('$__conditionalAll((a, b) IN (SELECT 1, 2), $wallet)', vars)).toBe('1=1');
    expect(() => interpolateVariables("$__conditionalAll(w IN ['x', 'y'], $one)", vars)).toThrow(/unexpanded/);
    expect(() => interpolateVariables("$__conditionalAll(w = ',', $one)", vars)).toThrow(/unexpanded/);
  });
});
