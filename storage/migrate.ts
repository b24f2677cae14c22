import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, read, tsvQuery } from '../core/query.js';
import { sleep } from '../core/retry.js';
import { fillRollup } from './backfill.js';
import { acquireMigrationLock, type HeldLock, type MigrationLockOptions } from './migrationLock.js';
import { clusterClause, everyNodeEngine, renderForCluster, throughTwins, type ClusterRendering } from './clusterSql.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  /** Its number, from the file name (`NNN_verb_object.sql`); stored as `version` in `schema_migrations_v1`. */
  number: number;
  name: string;
  statements: string[];
  /** Rollups this migration creates over existing events, filled once its statements ran. */
  fills: string[];
}

/**
 * `NNN_verb_object.sql`, each holding one or more `;`-terminated statements. A header line
 * `-- fill: table` names a rollup to fill from the events already stored; the views of such a
 * migration write into it from `events_v1` and carry `${after_cutover}` in their WHERE clause.
 */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    const statements = text
      .split(/;\s*$/m)
      .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
      .filter(Boolean);
    const fills = [...text.matchAll(/^-- fill: ([a-z0-9_]+)\s*$/gm)].map((m) => m[1] as string);
    migrations.push({ number: Number(file.slice(0, 3)), name: file.replace(/\.sql$/, ''), statements, fills });
  }
  return migrations;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

export interface MigrateOptions {
  lock?: MigrationLockOptions;
  /**
   * How long an insert may take at most. A fill's views start counting events this long after
   * they are created, and the fill copies what came before, once this long has passed again.
   */
  fillMarginMs?: number;
}

/** In a fill migration's views, the condition that holds for events the view counts itself. */
const AFTER_CUTOVER = '${after_cutover}';

/**
 * Applies the migrations this database has not recorded yet, in order, under the migration
 * lock, so two processes starting at once never apply or fill the same migration together.
 * Every statement is idempotent (IF NOT EXISTS), and a migration that stopped half-way is done
 * again from the start by the next process.
 */
export async function migrate(store: Store, migrations?: Migration[], options: MigrateOptions = {}): Promise<MigrationReport> {
  const all = migrations ?? (await loadMigrations());
  await store.command(`CREATE DATABASE IF NOT EXISTS \`${store.database}\`${clusterClause(store.cluster)}`);
  await store.command(
    `CREATE TABLE IF NOT EXISTS ${store.table('schema_migrations_v1')}${clusterClause(store.cluster)}
     (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
     ENGINE = ${everyNodeEngine(store.cluster, 'schema_migrations_v1', 'ReplacingMergeTree')} ORDER BY version`,
  );
  const appliedVersions = async () =>
    new Set((await read(store, appliedQuery, {})).map((r) => r.version));
  // Most starts find nothing to do, and take no lock.
  if (all.every(((done) => (m: Migration) => done.has(m.number))(await appliedVersions()))) {
    return { applied: [], alreadyApplied: all.length };
  }

  const lock = await acquireMigrationLock(store, options.lock);
  try {
    // Another process may have applied some while this one waited for the lock.
    const done = await appliedVersions();
    const applied: string[] = [];
    // On a cluster, which tables exist decides how later statements refer to them.
    const rendering: ClusterRendering | undefined = store.cluster ? { cluster: store.cluster, tables: new Set() } : undefined;
    for (const migration of all) {
      if (done.has(migration.number)) {
        if (rendering) for (const statement of migration.statements) renderForCluster(statement, rendering);
        continue;
      }
      lock.assertHeld();
      if (migration.fills.length > 0 && migration.statements.some((s) => s.includes(AFTER_CUTOVER))) {
        await applyWithFill(store, migration, lock, options.fillMarginMs ?? 15_000, rendering);
      } else {
        for (const statement of migration.statements) for (const sql of render(store, statement, rendering)) await store.command(sql);
        // Fills of migrations written before cutovers: they truncate and replay, so they are
        // exact only while nothing else ingests (as when they were first applied).
        for (const table of migration.fills) await fillRollup(store, table);
      }
      lock.assertHeld();
      await store.insertJsonEachRow('schema_migrations_v1', JSON.stringify({ version: migration.number, name: migration.name }) + '\n');
      applied.push(migration.name);
    }
    return { applied, alreadyApplied: all.length - applied.length };
  } finally {
    await lock.release();
  }
}

/** A migration statement as it runs on this store: for its cluster, if any, with the cutover set. */
const render = (store: Store, statement: string, rendering?: ClusterRendering, cutover?: string): string[] =>
  (rendering ? renderForCluster(statement, rendering) : [statement]).map((text) => {
    const sql = text.replaceAll('${db}', `\`${store.database}\``);
    return cutover === undefined ? sql : sql.replaceAll(AFTER_CUTOVER, `ingested_at >= toDateTime64('${cutover}', 3, 'UTC')`);
  });

const VIEW_INTO = /^CREATE MATERIALIZED VIEW(?: IF NOT EXISTS)?\s+(\S+)\s+TO\s+(\S+)\s+AS\s+([\s\S]+)$/i;
const bareName = (qualified: string) => qualified.replace(/^\$\{db\}\./, '').replaceAll('`', '').split('.').pop() as string;

/**
 * Applies a migration that adds a rollup over events already stored, while other processes may
 * be storing more. Its views count only events stored from a cutover a margin in the future;
 * once every insert that began before the cutover has surely finished, the events before it
 * are copied in by the views' own SELECT. Each event is counted by exactly one of the two.
 *
 * A fill that stopped half-way is undone first: its views are dropped and its rollups emptied,
 * so doing it again from the start cannot double anything.
 */
async function applyWithFill(store: Store, migration: Migration, lock: HeldLock, marginMs: number, rendering?: ClusterRendering): Promise<void> {
  const targets = new Set(migration.fills);
  const views = migration.statements
    .map((statement) => VIEW_INTO.exec(statement.trim()))
    .filter((m): m is RegExpExecArray => m !== null && targets.has(bareName(m[2] as string)))
    .map((m) => ({ name: bareName(m[1] as string), target: bareName(m[2] as string), select: m[3] as string }));
  const serverNow = async () => (await read(store, serverClockQuery, {}))[0]?.now ?? 0;

  let cutoverMs: number;
  let cutover: string;
  let margin = marginMs;
  let tables: ClusterRendering | undefined;
  for (; ; margin *= 2) {
    lock.assertHeld();
    const local = (table: string) => `\`${store.database}\`.\`${table}\`${clusterClause(store.cluster)}`;
    for (const view of views) await store.command(`DROP VIEW IF EXISTS ${local(view.name)} SYNC`);
    for (const target of targets) await store.command(`TRUNCATE TABLE IF EXISTS ${local(target)}`);
    cutoverMs = (await serverNow()) + margin;
    cutover = new Date(cutoverMs).toISOString().replace('T', ' ').replace('Z', '');
    tables = rendering ? { ...rendering, tables: new Set(rendering.tables) } : undefined;
    for (const statement of migration.statements) for (const sql of render(store, statement, tables, cutover)) await store.command(sql);
    // The views must exist before the cutover, or events stored in between would be missed by
    // both the views and the copy. On a slow start, begin again with a wider margin.
    if ((await serverNow()) < cutoverMs) break;
  }

  if (rendering && tables) for (const table of tables.tables) rendering.tables.add(table);

  // Inserts that began before the cutover end within the margin; only then is "before" complete.
  for (;;) {
    lock.assertHeld();
    const left = cutoverMs + margin - (await serverNow());
    if (left <= 0) break;
    await sleep(Math.min(left, 1_000));
  }
  for (const view of views) {
    lock.assertHeld();
    const columns = await read(store, viewColumnsQuery, { db: store.database, view: view.name });
    // On a cluster the copy reads and writes through the twins: each row lands on its account's shard.
    const select = rendering ? throughTwins(view.select, rendering.tables) : view.select;
    const before = select.replaceAll('${db}', `\`${store.database}\``).replaceAll(AFTER_CUTOVER, `ingested_at < toDateTime64('${cutover}', 3, 'UTC')`);
    await store.command(`INSERT INTO ${store.table(view.target)} (${columns.map(([c]) => `\`${c}\``).join(', ')}) ${before}`);
  }
}

/** The versions of the migrations applied so far. */
const appliedQuery = jsonQuery({
  name: 'migrations.applied',
  params: z.object({}),
  sql: (t) => `SELECT DISTINCT version FROM ${t.table('schema_migrations_v1')}`,
  rows: z.object({ version: field.int }),
});

/** Storage's own clock: a fill's cutover is an instant of the clock that stamps ingested_at. */
const serverClockQuery = jsonQuery({
  name: 'migrations.server_clock',
  params: z.object({}),
  sql: () => 'SELECT toUnixTimestamp64Milli(now64(3)) AS now',
  rows: z.object({ now: field.int64 }),
});

/** A view's output columns, in order. */
const viewColumnsQuery = tsvQuery({
  name: 'migrations.view_columns',
  params: z.object({ db: z.string(), view: z.string() }),
  sql: () => 'SELECT name FROM system.columns WHERE database = {db:String} AND table = {view:String} ORDER BY position',
  columns: { name: 'String' },
});
