import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
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

/**
 * A process that takes the lock as the product does and leaves it behind when it ends, as one
 * killed with -9 does; resolves once the lock names it.
 */
async function holder(dataDir: string, exitAfterMs?: number): Promise<ChildProcess> {
  mkdirSync(dataDir, { recursive: true });
  const script = `
    require('node:fs').writeFileSync(${JSON.stringify(join(dataDir, LOCK_FILE))}, process.pid + '\\n');
    process.stdout.write('held\\n');
    ${exitAfterMs === undefined ? 'setInterval(() => {}, 1000);' : `setTimeout(() => process.exit(0), ${exitAfterMs});`}`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => child.kill('SIGKILL'));
  await once(child.stdout!, 'data');
  return child;
}

describe('one process per chDB data directory', () => {
  it('a second process on the same data directory waits a while for it, then refuses with a clear message; after the first stops, it runs', async () => {
    const dataDir = join(scratch, 'shared');
    const file = join(scratch, 'events.ndjson');
    writeFileSync(file, ndjson([usage('lock-1'), usage('lock-2')]));
    const env = { BALANCES_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'lock', PORT: '0' };
    const api = startEntry('api/main.ts', [], env);
    await api.waitForLog((l) => l.event === 'listening');

    const started = Date.now();
    const second = await runEntry('ingest/main.ts', ['--file', file], env);
    expect(second.code, second.stdout + second.stderr).toBe(3);
    expect(second.stderr).toContain(`waiting up to 10 s for process ${api.pid} to exit`);
    expect(second.stderr).toContain(`data directory ${dataDir} is in use by process ${api.pid}`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    // Refused after its wait, before chDB opened the directory or any migration ran.
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(second.logs.filter((l) => l.event === 'migrations_applied')).toEqual([]);

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

  it('a restart while the previous holder is still exiting waits for it, says so once, then runs', async () => {
    const dataDir = join(scratch, 'dying');
    const file = join(scratch, 'restart.ndjson');
    writeFileSync(file, ndjson([usage('restart-1'), usage('restart-2')]));
    const previous = await holder(dataDir);
    const restart = startEntry('ingest/main.ts', ['--file', file], { BALANCES_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'restart' });
    const waiting = `waiting up to 10 s for process ${previous.pid} to exit`;
    // The previous process goes a second after the restart began to wait for it.
    let ended = false;
    void restart.exited.then(() => (ended = true));
    while (!ended && !restart.stderr().includes(waiting)) await sleep(50);
    await sleep(1_000);
    previous.kill('SIGKILL');

    const result = await restart.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.split(waiting)).toHaveLength(2);
    expect(result.logs.find((l) => l.event === 'file_ingested')).toMatchObject({ accepted: 2 });
  });

  it('a holder that has exited but is not yet collected by its parent (this process) no longer holds the directory', async () => {
    const dataDir = join(scratch, 'zombie');
    const child = await holder(dataDir, 1_000);
    // This process waits without turning its event loop, so it cannot collect the child's exit.
    const release = lockDataDir(dataDir, { waitMs: 10_000 });
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    release();
    await once(child, 'exit');
  });

  it('a holder still running after the wait is refused, naming that process', () => {
    const dataDir = join(scratch, 'live');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    const started = Date.now();
    expect(() => lockDataDir(dataDir, { waitMs: 1_000 })).toThrow(DataDirInUseError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(() => lockDataDir(dataDir, { waitMs: 0 })).toThrow(`is in use by process ${process.ppid}`);
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(process.ppid));
  });
});
