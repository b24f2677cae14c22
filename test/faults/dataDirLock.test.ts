import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../core/dataDirLock.js';
import { usage, ndjson } from '../support/events.js';
import { runEntry, startEntry } from '../support/processes.js';

const scratch = mkdtempSync(join(tmpdir(), 'balances-datadir-lock-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('one process per chDB data directory', () => {
  it('a second process on the same data directory refuses at once with a clear message; after the first stops, it runs', async () => {
    const dataDir = join(scratch, 'shared');
    const file = join(scratch, 'events.ndjson');
    writeFileSync(file, ndjson([usage('lock-1'), usage('lock-2')]));
    const env = { BALANCES_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'lock', PORT: '0' };
    const api = startEntry('api/main.ts', [], env);
    await api.waitForLog((l) => l.event === 'listening');

    const started = Date.now();
    const second = await runEntry('ingest/main.ts', ['--file', file], env);
    expect(second.code, second.stdout + second.stderr).toBe(3);
    expect(second.stderr).toContain(`data directory ${dataDir} is in use by process ${api.pid}`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    // Refused before chDB opened the directory or any migration ran.
    expect(Date.now() - started).toBeLessThan(15_000);

    api.kill('SIGTERM');
    expect((await api.exited).code).toBe(0);
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    const after = await runEntry('ingest/main.ts', ['--file', file], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.logs.find((l) => l.event === 'file_ingested')).toMatchObject({ accepted: 2 });
  });

  it('a lock left by a process that died is taken over', async () => {
    const dataDir = join(scratch, 'stale');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, LOCK_FILE), `${deadPid()}\n`);
    const release = lockDataDir(dataDir);
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('a lock held by a live process is refused, naming that process', () => {
    const dataDir = join(scratch, 'live');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    expect(() => lockDataDir(dataDir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dataDir)).toThrow(`is in use by process ${process.ppid}`);
  });
});
