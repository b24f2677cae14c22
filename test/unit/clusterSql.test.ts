import { describe, expect, it } from 'vitest';
import { loadMigrations } from '../../storage/migrate.js';
import { renderForCluster, type ClusterRendering } from '../../storage/clusterSql.js';

/** Every migration rendered for a cluster named `balances`, in order, as `migrate` renders them. */
async function renderedMigrations(): Promise<string[]> {
  const rendering: ClusterRendering = { cluster: 'balances', tables: new Set() };
  const out: string[] = [];
  for (const migration of await loadMigrations()) {
    for (const statement of migration.statements) out.push(...renderForCluster(statement, rendering));
  }
  return out;
}

describe('migrations rendered for a ClickHouse cluster', () => {
  it('run every DDL statement on the whole cluster', async () => {
    for (const sql of await renderedMigrations()) {
      if (/^INSERT/i.test(sql)) continue;
      expect(sql, sql.slice(0, 80)).toMatch(/ON CLUSTER `balances`/);
    }
  });

  it('replicate every table per shard, with a Distributed twin sharded by account', async () => {
    const statements = await renderedMigrations();
    const creates = statements.filter((s) => /^CREATE TABLE IF NOT EXISTS \$\{db\}\.(\w+) ON CLUSTER `balances` \(/.test(s));
    expect(creates.length).toBeGreaterThan(15);
    for (const sql of creates) {
      const table = /\$\{db\}\.(\w+)/.exec(sql)?.[1] as string;
      expect(sql).toMatch(new RegExp(`ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/\\{database\\}/${table}', '\\{replica\\}'`));
      expect(sql).not.toMatch(/ENGINE = (MergeTree|SummingMergeTree|ReplacingMergeTree|AggregatingMergeTree)\b/);
      const twin = statements.find((s) => s.includes(`\${db}.${table}_dist ON CLUSTER`));
      expect(twin, table).toMatch(new RegExp(`AS \\$\\{db\\}\\.${table}\\s+ENGINE = Distributed\\(\`balances\`, currentDatabase\\(\\), ${table}, cityHash64\\(account_id\\)\\)`));
    }
  });

  it('keep each engine\'s own parameters after the path and replica', async () => {
    const statements = await renderedMigrations();
    const usage = statements.find((s) => s.includes('${db}.usage_wallet_daily_v1 ON CLUSTER') && s.startsWith('CREATE TABLE'));
    expect(usage).toContain(`ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/usage_wallet_daily_v1', '{replica}', (amount, events))`);
    const voided = statements.find((s) => s.includes('${db}.voided_usage_v2 ON CLUSTER') && s.startsWith('CREATE TABLE'));
    expect(voided).toContain(`ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/voided_usage_v2', '{replica}', netted)`);
  });

  it('let views fire on the local table an insert lands in, and plain views read the twins', async () => {
    const statements = await renderedMigrations();
    const lots = statements.find((s) => s.startsWith('CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.lots_mv_v1'));
    expect(lots).toMatch(/ON CLUSTER `balances` TO \$\{db\}\.lots_v1 AS/);
    expect(lots).toContain('FROM ${db}.events_v1');
    expect(lots).not.toContain('_dist');
    const balances = statements.filter((s) => s.includes('VIEW') && s.includes('${db}.wallet_balances_v1 ON CLUSTER'));
    expect(balances.length).toBeGreaterThan(0);
    for (const view of balances) expect(view).toContain('FROM ${db}.wallet_balance_versions_v1_dist');
  });

  it('change a table\'s columns on its twin too, and move data through the twins', async () => {
    const statements = await renderedMigrations();
    expect(statements).toContain("ALTER TABLE ${db}.events_v1_dist ON CLUSTER `balances` ADD COLUMN IF NOT EXISTS wallet_name String DEFAULT ''");
    expect(statements.some((s) => s.startsWith('ALTER TABLE ${db}.events_v1_dist') && s.includes('INDEX'))).toBe(false);
    expect(statements.some((s) => /^INSERT INTO \$\{db\}\.voided_usage_v2\s/.test(s))).toBe(false);
    const moved = statements.find((s) => s.startsWith('INSERT INTO ${db}.voided_usage_v2_dist'));
    expect(moved).toContain('FROM ${db}.voided_usage_v1_dist');
  });

  it('drop a table with its twin', async () => {
    const statements = await renderedMigrations();
    const i = statements.indexOf('DROP TABLE IF EXISTS ${db}.usage_wallet_levels_v1_dist ON CLUSTER `balances` SYNC');
    expect(i).toBeGreaterThan(-1);
    expect(statements[i + 1]).toBe('DROP TABLE IF EXISTS ${db}.usage_wallet_levels_v1 ON CLUSTER `balances` SYNC');
  });

  it('refuse a statement it cannot render, rather than run it on one node', () => {
    expect(() => renderForCluster('OPTIMIZE TABLE ${db}.events_v1 FINAL', { cluster: 'balances', tables: new Set() })).toThrow(/no cluster rendering/);
  });
});
