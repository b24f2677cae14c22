/**
 * The migrations, written for one ClickHouse server, rendered for a cluster (`CLICKHOUSE_CLUSTER`):
 * every DDL statement runs `ON CLUSTER`; every table becomes its Replicated* engine on a Keeper
 * path per shard, with a `<table>_dist` Distributed twin that the product reads and writes
 * through. The twins shard by `cityHash64(account_id)`, so an account's events, its rollups (the
 * views fire on the shard that stores the insert) and its dedupe keys all live on one shard, and
 * every per-account answer stays exact. Plain views read the twins; materialized views read the
 * local table their insert arrives in.
 *
 * Pure text in, text out: a test checks every migration's rendering.
 */

export interface ClusterRendering {
  cluster: string;
  /** Tables created so far (and in earlier migrations): their references in views and INSERTs become twins. */
  tables: Set<string>;
}

const DB = '${db}';
const onCluster = (cluster: string) => `ON CLUSTER \`${cluster}\``;
const name = (qualified: string) => qualified.replace(`${DB}.`, '').replaceAll('`', '');

/** The `_dist` twin through which the product reads and writes a table on a cluster. */
export const distributedName = (table: string) => `${table}_dist`;

/** `ENGINE = Name(args)`: where it stands, the engine's name and its own arguments (balanced parentheses). */
function engineOf(sql: string): { start: number; end: number; engine: string; args: string } | undefined {
  const m = /ENGINE\s*=\s*([A-Za-z]*MergeTree)/.exec(sql);
  if (!m) return undefined;
  let end = m.index + m[0].length;
  let args = '';
  const open = sql.slice(end).search(/\S/);
  if (open >= 0 && sql[end + open] === '(') {
    let depth = 0;
    for (let i = end + open; i < sql.length; i++) {
      if (sql[i] === '(') depth++;
      else if (sql[i] === ')' && --depth === 0) {
        args = sql.slice(end + open + 1, i).trim();
        end = i + 1;
        break;
      }
    }
  }
  return { start: m.index, end, engine: m[1] as string, args };
}

export function renderForCluster(statement: string, rendering: ClusterRendering): string[] {
  const sql = statement.trim();
  const { cluster, tables } = rendering;

  let m = /^CREATE TABLE IF NOT EXISTS\s+(\S+)\s*\(([\s\S]*)$/i.exec(sql);
  if (m) {
    const table = name(m[1] as string);
    const body = `(${m[2]}`;
    const engine = engineOf(body);
    if (!engine) throw new Error(`no MergeTree engine to replicate in CREATE TABLE ${table}`);
    const args = [`'/clickhouse/tables/{shard}/{database}/${table}'`, `'{replica}'`, ...(engine.args ? [engine.args] : [])];
    const local = `CREATE TABLE IF NOT EXISTS ${DB}.${table} ${onCluster(cluster)} ${body.slice(0, engine.start)}ENGINE = Replicated${engine.engine}(${args.join(', ')})${body.slice(engine.end)}`;
    tables.add(table);
    const shardKey = /\baccount_id\b/.test(m[2] as string) ? 'cityHash64(account_id)' : 'rand()';
    return [
      local,
      `CREATE TABLE IF NOT EXISTS ${DB}.${distributedName(table)} ${onCluster(cluster)} AS ${DB}.${table}
       ENGINE = Distributed(\`${cluster}\`, currentDatabase(), ${table}, ${shardKey})`,
    ];
  }

  m = /^CREATE MATERIALIZED VIEW IF NOT EXISTS\s+(\S+)\s+(TO[\s\S]*)$/i.exec(sql);
  if (m) return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${m[1]} ${onCluster(cluster)} ${m[2]}`];

  m = /^CREATE (OR REPLACE VIEW|VIEW IF NOT EXISTS)\s+(\S+)\s+AS\s+([\s\S]*)$/i.exec(sql);
  if (m) return [`CREATE ${m[1]} ${m[2]} ${onCluster(cluster)} AS ${throughTwins(m[3] as string, tables)}`];

  m = /^ALTER TABLE\s+(\S+)\s+([\s\S]*)$/i.exec(sql);
  if (m) {
    const table = name(m[1] as string);
    const statements = [`ALTER TABLE ${DB}.${table} ${onCluster(cluster)} ${m[2]}`];
    // The twin carries the table's columns, not its indexes or settings.
    if (/^\s*(ADD|MODIFY|DROP|RENAME) COLUMN/i.test(m[2] as string) && tables.has(table)) {
      statements.push(`ALTER TABLE ${DB}.${distributedName(table)} ${onCluster(cluster)} ${m[2]}`);
    }
    return statements;
  }

  m = /^DROP (TABLE|VIEW) IF EXISTS\s+(\S+)$/i.exec(sql);
  if (m) {
    const table = name(m[2] as string);
    const statements = [`DROP ${m[1]} IF EXISTS ${DB}.${table} ${onCluster(cluster)} SYNC`];
    if (m[1]?.toUpperCase() === 'TABLE' && tables.has(table)) {
      statements.unshift(`DROP TABLE IF EXISTS ${DB}.${distributedName(table)} ${onCluster(cluster)} SYNC`);
      tables.delete(table);
    }
    return statements;
  }

  // Data moved by a migration goes through the twins: each row lands on its account's shard.
  if (/^INSERT INTO/i.test(sql)) return [throughTwins(sql, tables)];

  throw new Error(`a migration statement has no cluster rendering: ${sql.slice(0, 80)}`);
}

/** `${db}.table` references to known tables, as their twins. */
export function throughTwins(sql: string, tables: Set<string>): string {
  return sql.replace(/\$\{db\}\.`?([A-Za-z0-9_]+)`?/g, (whole, table: string) => (tables.has(table) ? `${DB}.${distributedName(table)}` : whole));
}

/**
 * `ON CLUSTER` for DDL the product runs outside migrations (fills, the lock, the migration
 * record), or nothing on a single server.
 */
export const clusterClause = (cluster: string | undefined) => (cluster ? ` ${onCluster(cluster)}` : '');

/** A replicated engine shared by every node of the cluster (not per shard), for bookkeeping tables. */
export const everyNodeEngine = (cluster: string | undefined, table: string, engine: 'MergeTree' | 'ReplacingMergeTree') =>
  cluster ? `Replicated${engine}('/clickhouse/tables/all/{database}/${table}', '{replica}')` : engine;
