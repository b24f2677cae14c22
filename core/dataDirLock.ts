import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The file in a chDB data directory that names the process holding it. */
export const LOCK_FILE = 'balances.lock';

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(
      `data directory ${dataDir} is in use by process ${ownerPid}: embedded ClickHouse (chDB) lets only one process ` +
        `open a data directory. Stop that process, point BALANCES_DATA_DIR at another directory, or set CLICKHOUSE_URL ` +
        `to share a ClickHouse server.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Data directories this process holds, with how many stores share each. */
const held = new Map<string, number>();
let exitHookInstalled = false;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function removeIfOurs(dataDir: string): void {
  const path = join(dataDir, LOCK_FILE);
  try {
    if (ownerOf(path) === process.pid) unlinkSync(path);
  } catch (err) {
    // Already gone, or the directory with it, is the end wanted. Anything else leaves a lock
    // naming this pid, which the next process takes over once this one has exited: said, not fatal.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      process.emitWarning(`the lock file ${path} could not be removed: ${(err as Error).message}`, 'DataDirLock');
    }
  }
}

/**
 * Takes the data directory for this process, or throws `DataDirInUseError` at once if a live
 * process holds it: two processes on one chDB directory corrupt each other's parts. Stores of one
 * process share the directory. A lock left by a process that died (kill -9, a crash) names a pid
 * that no longer runs, and is taken over. Returns the release.
 */
export function lockDataDir(dataDir: string): () => void {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const count = (held.get(dataDir) ?? 1) - 1;
    if (count > 0) {
      held.set(dataDir, count);
      return;
    }
    held.delete(dataDir);
    removeIfOurs(dataDir);
  };
  const count = held.get(dataDir);
  if (count !== undefined) {
    held.set(dataDir, count + 1);
    return release;
  }
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerOf(path);
      // Our own pid here, yet not held: a previous process with the same pid (a restarted container).
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw new DataDirInUseError(dataDir, owner);
      if (attempt >= 3) throw new DataDirInUseError(dataDir, owner ?? 0);
      // Stale: replace it in one step, so a racing process cannot delete a lock just taken.
      const claim = `${path}.${process.pid}`;
      writeFileSync(claim, `${process.pid}\n`);
      renameSync(claim, path);
      // Two processes taking over the same stale lock: the last rename wins, the other sees it.
      const winner = ownerOf(path);
      if (winner !== process.pid && winner !== undefined && isAlive(winner)) throw new DataDirInUseError(dataDir, winner);
      if (winner === process.pid) break;
    }
  }
  held.set(dataDir, 1);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const dir of held.keys()) removeIfOurs(dir);
    });
  }
  return release;
}
