import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { drainPending, Session } from 'chdb';
import { loadConfigOrExit, storageConfigSchema } from '../core/config.js';

/**
 * `npm run backup -- <dir>` and `npm run restore -- <dir>`: a copy of the embedded chDB store
 * with ClickHouse's own BACKUP and RESTORE, so every table, view and part comes back as it was.
 *
 * chDB lets one process hold a data directory, so the product must be stopped while these run.
 * The `File` backup engine writes only under `backups.allowed_path`, a server setting chDB takes
 * when the engine starts: the session is opened with it set to the backup's parent directory.
 */

const USAGE = `usage:
  npm run backup -- <dir>              copy the store in BALANCES_DATA_DIR to <dir> (which must not exist)
  npm run restore -- <dir> [--replace] restore <dir> into BALANCES_DATA_DIR; --replace drops the database there first`;

class BackupFailure extends Error {}

const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

interface Engine {
  rows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  run(sql: string): Promise<void>;
  close(): Promise<void>;
}

function openEngine(dataDir: string, allowedPath: string): Engine {
  mkdirSync(dataDir, { recursive: true });
  let session: Session;
  try {
    session = new Session(dataDir, { connectionArgs: [`--backups.allowed_path=${allowedPath}/`] });
  } catch (err) {
    throw new BackupFailure(`cannot open the store in ${dataDir} (is the product still running on it? stop it first): ${(err as Error).message}`);
  }
  return {
    async rows<T>(sql: string, params: Record<string, unknown> = {}) {
      const result = await session.queryBindAsync(sql, params, { format: 'JSONEachRow' });
      return result
        .text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as T);
    },
    async run(sql: string) {
      await session.queryAsync(sql, { format: 'CSV' });
    },
    async close() {
      session.close();
      await drainPending();
    },
  };
}

interface Contents {
  tables: number;
  events: number;
}

async function contents(engine: Engine, database: string): Promise<Contents> {
  const [tables] = await engine.rows<{ n: string }>('SELECT count() AS n FROM system.tables WHERE database = {db:String}', { db: database });
  const hasEvents = await engine.rows('SELECT 1 FROM system.tables WHERE database = {db:String} AND name = {t:String}', { db: database, t: 'events_v1' });
  const [events] = hasEvents.length ? await engine.rows<{ n: string }>(`SELECT count() AS n FROM ${ident(database)}.events_v1`) : [];
  return { tables: Number(tables?.n ?? 0), events: Number(events?.n ?? 0) };
}

interface BackupRow {
  status: string;
  error: string;
  num_files: string;
  total_size: string;
}

async function statusOf(engine: Engine, id: string): Promise<BackupRow> {
  const [row] = await engine.rows<BackupRow>('SELECT status, error, num_files, total_size FROM system.backups WHERE id = {id:String}', { id });
  if (!row) throw new BackupFailure(`ClickHouse has no record of operation ${id}`);
  if (row.error) throw new BackupFailure(row.error.split(', Stack trace')[0] as string);
  return row;
}

export async function backup(dataDir: string, database: string, destination: string): Promise<string> {
  const target = resolve(destination);
  if (existsSync(target)) throw new BackupFailure(`${target} already exists: a backup never writes over another`);
  mkdirSync(dirname(target), { recursive: true });
  const engine = openEngine(dataDir, dirname(target));
  try {
    const before = await contents(engine, database);
    if (before.tables === 0) throw new BackupFailure(`no database "${database}" in ${dataDir}: nothing to back up`);
    const [result] = await engine.rows<{ id: string; status: string }>(`BACKUP DATABASE ${ident(database)} TO File(${quote(target)})`);
    const row = await statusOf(engine, result?.id as string);
    if (row.status !== 'BACKUP_CREATED') throw new BackupFailure(`backup ended as ${row.status}`);
    return `backed up database "${database}" from ${dataDir} to ${target}: ${before.tables} tables, ${before.events} events, ${row.num_files} files, ${row.total_size} bytes`;
  } finally {
    await engine.close();
  }
}

/** The database a backup holds: its only entry under `metadata/`. */
function databaseIn(source: string): string {
  const entries = readdirSync(join(source, 'metadata')).filter((name) => name.endsWith('.sql')).map((name) => decodeURIComponent(name.slice(0, -4)));
  if (entries.length !== 1) throw new BackupFailure(`${source} holds ${entries.length} databases; expected one`);
  return entries[0] as string;
}

export async function restore(dataDir: string, database: string, source: string, replace: boolean): Promise<string> {
  const origin = resolve(source);
  if (!existsSync(join(origin, '.backup'))) throw new BackupFailure(`${origin} is not a backup made by npm run backup`);
  const backedUp = databaseIn(origin);
  const engine = openEngine(dataDir, dirname(origin));
  try {
    const existing = await contents(engine, database);
    if (existing.tables > 0 && !replace) {
      throw new BackupFailure(`database "${database}" in ${dataDir} already holds ${existing.tables} tables and ${existing.events} events; restore into an empty directory, or pass --replace to drop it first`);
    }
    if (replace) await engine.run(`DROP DATABASE IF EXISTS ${ident(database)} SYNC`);
    const as = backedUp === database ? '' : ` AS ${ident(database)}`;
    const [result] = await engine.rows<{ id: string; status: string }>(`RESTORE DATABASE ${ident(backedUp)}${as} FROM File(${quote(origin)})`);
    const row = await statusOf(engine, result?.id as string);
    if (row.status !== 'RESTORED') throw new BackupFailure(`restore ended as ${row.status}`);
    const after = await contents(engine, database);
    return `restored ${origin} into database "${database}" in ${dataDir}: ${after.tables} tables, ${after.events} events`;
  } finally {
    await engine.close();
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { replace: { type: 'boolean', default: false } }, strict: true });
  const [command, path] = positionals;
  if ((command !== 'backup' && command !== 'restore') || !path || positionals.length > 2) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const config = loadConfigOrExit(storageConfigSchema);
  if (config.CLICKHOUSE_URL) {
    process.stderr.write(
      'CLICKHOUSE_URL is set: back up a ClickHouse server on the server itself, with a backups disk it is configured for:\n' +
        `  BACKUP DATABASE ${config.CLICKHOUSE_DATABASE} TO Disk('backups', '<name>')\n`,
    );
    process.exit(2);
  }
  const dataDir = resolve(config.BALANCES_DATA_DIR);
  try {
    const report =
      command === 'backup'
        ? await backup(dataDir, config.CLICKHOUSE_DATABASE, path)
        : await restore(dataDir, config.CLICKHOUSE_DATABASE, path, values.replace);
    process.stdout.write(`${report}\n`);
  } catch (err) {
    process.stderr.write(`${command} failed: ${err instanceof BackupFailure ? err.message : ((err as Error).message ?? String(err)).split(', Stack trace')[0]}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.dirname, 'backup.ts')) await main();
