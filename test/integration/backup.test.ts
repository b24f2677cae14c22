import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drainPending } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../storage/migrate.js';
import { createStore, type Store } from '../../core/clickhouse.js';
import { startApi } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { repoRoot, runEntry } from '../support/processes.js';
import { pipelineFor } from '../support/store.js';

// Names under balances-test-* are removed by the run's global teardown, whatever happens here.
const root = join(tmpdir(), `balances-test-${process.pid}-backup`);
const original = join(root, 'original');
const restored = join(root, 'restored');
const copy = join(root, 'backups', 'nightly');
const DATABASE = 'balances';
const NOW = Date.UTC(2026, 2, 15);
const env = (dataDir: string) => ({ BALANCES_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: DATABASE, CLICKHOUSE_URL: '' });

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Purchases, usage by many users, moves and voids in two accounts. */
function history(): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const account of ['acme', 'globex']) {
    const a = (id: string) => `${account}-${id}`;
    events.push(
      purchase(a('p1'), { account_id: account, amount: '1000', expires_at: '2026-06-01T00:00:00Z' }),
      purchase(a('p2'), { account_id: account, amount: '250.5', occurred_at: '2026-01-10T00:00:00Z', expires_at: '2026-02-20T00:00:00Z' }),
      purchase(a('p3'), { account_id: account, wallet: { type: 'contract', id: 'emea' }, amount: '99999999999.9999', expires_at: '2027-01-01T00:00:00Z' }),
    );
    for (let i = 0; i < 400; i++) {
      events.push(
        usage(a(`u${i}`), {
          account_id: account,
          occurred_at: new Date(Date.UTC(2026, 0, 2) + i * 4 * 3_600_000).toISOString(),
          amount: `${(i % 7) + 1}.${String(i % 10000).padStart(4, '0')}`,
          user_id: `user-${i % 13}`,
          product: ['compiler', 'profiler', 'debugger'][i % 3],
          service: ['build', 'ci', 'ide', 'cloud'][i % 4],
          wallet: i % 5 === 0 ? { type: 'contract', id: 'emea' } : { type: 'team', id: 'platform' },
        }),
      );
    }
    events.push(move(a('m1'), { account_id: account, amount: '100' }), voidOf(a('v1'), a('u7'), { account_id: account }));
  }
  return events;
}

/** Every read answer of both accounts, as a client would see them. */
async function answers(store: Store): Promise<Record<string, unknown>> {
  const api = await startApi(store, { clock: () => NOW });
  const seen: Record<string, unknown> = {};
  const read = async (key: string, path: string, accept = 'application/json') => {
    const res = await api.request(path, { key, headers: { accept } });
    expect(res.status, `${key} ${path}`).toBe(200);
    seen[`${key} ${path} ${accept}`] = accept === 'text/csv' ? await res.text() : await res.json();
  };
  try {
    for (const key of ['acme-admin', 'globex-admin']) {
      await read(key, '/v1/wallets');
      await read(key, '/v1/expiring?within_days=3650');
      await read(key, '/v1/alerts');
      for (const wallet of ['team/platform', 'team/mobile', 'contract/emea']) {
        await read(key, `/v1/wallets/${wallet}/balance`);
        await read(key, `/v1/wallets/${wallet}/balance?at=2026-02-01T00:00:00Z`);
        await read(key, `/v1/wallets/${wallet}/events`);
        await read(key, `/v1/wallets/${wallet}/usage-summary?days=1830`);
      }
      for (const group of ['service', 'user', 'product', 'day']) {
        await read(key, `/v1/usage?group_by=${group}&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z`);
        await read(key, `/v1/usage?group_by=${group}&wallet_type=team&wallet_id=platform&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z`);
      }
      await read(key, '/v1/usage?group_by=user&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z', 'text/csv');
    }
  } finally {
    await api.close();
  }
  return seen;
}

/** chDB holds one data directory per process: close the store and let the engine go before the next. */
async function release(store: Store): Promise<void> {
  await store.close();
  await drainPending();
}

describe('backup and restore of the embedded store', () => {
  it('are npm scripts', () => {
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.backup).toBe('tsx scripts/backup.ts backup');
    expect(scripts.restore).toBe('tsx scripts/backup.ts restore');
  });

  it('a restore into a fresh directory answers every balance and usage question as the original did', async () => {
    const source = createStore({ dataDir: original, database: DATABASE });
    await migrate(source);
    const ingest = await pipelineFor(source).ingest(history().map((event) => ({ text: JSON.stringify(event) })), { source: 'http' });
    expect(ingest.outcomes.filter((o) => o.status !== 'accepted')).toEqual([]);
    expect(ingest.accepted).toBe(810);
    const before = await answers(source);
    await release(source);

    const saved = await runEntry('scripts/backup.ts', ['backup', copy], env(original));
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(/backed up database "balances" .* 810 events/);

    const back = await runEntry('scripts/backup.ts', ['restore', copy], env(restored));
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/restored .* 810 events/);

    const target = createStore({ dataDir: restored, database: DATABASE });
    // The restored store is fully migrated: nothing is left to apply.
    expect((await migrate(target)).applied).toEqual([]);
    const after = await answers(target);
    expect(Object.keys(after)).toHaveLength(Object.keys(before).length);
    expect(after).toEqual(before);
    // Ingest goes on where it stopped: a redelivered event is still a duplicate.
    const again = await pipelineFor(target).ingest([{ text: JSON.stringify(history()[0]) }], { source: 'http' });
    expect([again.accepted, again.duplicates]).toEqual([0, 1]);
    await release(target);
  });

  it('never writes over a backup, nor restores over data unless told to', async () => {
    const over = await runEntry('scripts/backup.ts', ['backup', copy], env(original));
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/already exists/);

    const onto = await runEntry('scripts/backup.ts', ['restore', copy], env(restored));
    expect(onto.code).toBe(1);
    expect(onto.stderr).toMatch(/already holds \d+ tables and 810 events.*--replace/);

    const replaced = await runEntry('scripts/backup.ts', ['restore', copy, '--replace'], env(restored));
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stdout).toMatch(/810 events/);

    const notABackup = await runEntry('scripts/backup.ts', ['restore', root], env(join(root, 'elsewhere')));
    expect(notABackup.code).toBe(1);
    expect(notABackup.stderr).toMatch(/is not a backup/);
  });
});
