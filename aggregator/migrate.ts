import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Store } from '../core/clickhouse.js';
import { fillRollup } from './backfill.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  statements: string[];
  /** Rollups this migration creates over existing events, filled once its statements ran. */
  fills: string[];
}

/**
 * `NNN_verb_object.sql`, each holding one or more `;`-terminated statements. A header line
 * `-- fill: table` names a rollup to fill from the events already stored.
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
    migrations.push({ version: Number(file.slice(0, 3)), name: file.replace(/\.sql$/, ''), statements, fills });
  }
  return migrations;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies the migrations this database has not recorded yet, in order. Every statement is
 * idempotent (IF NOT EXISTS), so two processes starting at once do no harm.
 */
export async function migrate(store: Store, migrations?: Migration[]): Promise<MigrationReport> {
  const all = migrations ?? (await loadMigrations());
  await store.command(`CREATE DATABASE IF NOT EXISTS \`${store.database}\``);
  await store.command(
    `CREATE TABLE IF NOT EXISTS ${store.table('schema_migrations_v1')}
     (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
     ENGINE = ReplacingMergeTree ORDER BY version`,
  );
  const done = await store.queryRows<{ version: number }>(
    `SELECT DISTINCT version FROM ${store.table('schema_migrations_v1')}`,
  );
  const appliedVersions = new Set(done.map((r) => Number(r.version)));
  const applied: string[] = [];
  for (const migration of all) {
    if (appliedVersions.has(migration.version)) continue;
    for (const statement of migration.statements) {
      await store.command(statement.replaceAll('${db}', `\`${store.database}\``));
    }
    for (const table of migration.fills) await fillRollup(store, table);
    await store.insertJsonEachRow(
      'schema_migrations_v1',
      JSON.stringify({ version: migration.version, name: migration.name }) + '\n',
    );
    applied.push(migration.name);
  }
  return { applied, alreadyApplied: all.length - applied.length };
}
