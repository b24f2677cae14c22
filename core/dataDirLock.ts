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
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A zombie has exited and closed its files; only its parent has yet to collect it. That parent
 * may be this very process, which cannot collect it while `lockDataDir` waits. Read from /proc,
 * so on Linux only; elsewhere a zombie counts as running until collected.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (command) state ...": the command may itself hold parentheses.
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return false;
  }
}

/** Blocks this thread: the process cannot go on without its store, so it has nothing else to do. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
 * How long a new process waits, by default, for a live holder to exit: a process killed with -9
 * keeps running for a few seconds while the kernel frees its memory, and a restart right after
 * it should not fail for that.
 */
export const DATA_DIR_WAIT_MS = 10_000;
const POLL_MS = 100;

export interface LockDataDirOptions {
  /** How long to wait for a live holder to exit before refusing; `DATA_DIR_WAIT_MS` when not given. */
  waitMs?: number;
}

/**
 * Takes the data directory for this process: two processes on one chDB directory corrupt each
 * other's parts. Stores of one process share the directory. A lock left by a process that died
 * (kill -9, a crash) names a pid that no longer runs, and is taken over. While the holder still
 * runs, this waits for it to exit, at most `waitMs` and saying so once on stderr (no logger exists
 * yet at this point of a boot), then throws `DataDirInUseError`. The wait blocks the thread, as the
 * callers build their store synchronously at boot. Returns the release.
 */
export function lockDataDir(dataDir: string, options: LockDataDirOptions = {}): () => void {
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
  const waitMs = options.waitMs ?? DATA_DIR_WAIT_MS;
  let deadline: number | undefined;
  let awaited: number | undefined;
  for (let takeovers = 0; ; ) {
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
    }
    const owner = ownerOf(path);
    // Our own pid here, yet not held: a previous process with the same pid (a restarted container).
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      deadline ??= Date.now() + waitMs;
      const left = deadline - Date.now();
      if (left <= 0) throw new DataDirInUseError(dataDir, owner);
      if (awaited !== owner) {
        awaited = owner;
        process.stderr.write(`data directory ${dataDir} is held by a running process: waiting up to ${Math.ceil(waitMs / 1000)} s for process ${owner} to exit\n`);
      }
      sleepSync(Math.min(POLL_MS, left));
      continue;
    }
    if (++takeovers > 3) throw new DataDirInUseError(dataDir, owner ?? 0);
    // Stale: replace it in one step, so a racing process cannot delete a lock just taken.
    const claim = `${path}.${process.pid}`;
    writeFileSync(claim, `${process.pid}\n`);
    renameSync(claim, path);
    // Two processes taking over the same stale lock: the last rename wins, the other sees it and
    // waits for the winner like for any holder.
    if (ownerOf(path) === process.pid) break;
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
