import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Whether a process with this id is still running (signal 0 only asks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Each test process keeps its chDB data in `balances-test-<pid>` under the temp directory. A
 * process that vitest ends by signal cannot remove its own, so the run removes those it made,
 * once their process has exited: another run going on beside this one keeps its live ones.
 */
export default function setup(): () => void {
  const started = Date.now();
  return () => {
    const left = killOrphanedEntries(started);
    if (left > 0) console.log(`killed ${left} product process(es) a test process left behind when it was ended`);
    for (const name of readdirSync(tmpdir())) {
      const match = /^balances-test-(\d+)$/.exec(name);
      if (!match) continue;
      const dir = join(tmpdir(), name);
      if (statSync(dir).ctimeMs >= started && !alive(Number(match[1]))) rmSync(dir, { recursive: true, force: true });
    }
  };
}

/**
 * Product processes a test started (`test/support/processes.ts`) are killed by the test process
 * when it exits; one that vitest ends by signal cannot, and its children live on, orphaned,
 * polling storage. The run kills those it made: started from this repository since the run
 * began, with a data directory under the temp directory, and whose parent is gone. Linux only
 * (it reads /proc); elsewhere it finds none.
 */
function killOrphanedEntries(started: number): number {
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!cmdline.includes('--import') || !cmdline.includes('tsx')) continue;
      if (readlinkSync(`/proc/${pid}/cwd`) !== repoRoot) continue;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!environ.some((v) => v.startsWith(`BALANCES_DATA_DIR=${tmpdir()}/balances-`))) continue;
      if (statSync(`/proc/${pid}`).ctimeMs < started) continue;
      // The parent process id is the fourth field of /proc/<pid>/stat, after the parenthesised name.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== 1 && alive(ppid)) continue;
      process.kill(Number(pid), 'SIGKILL');
      killed++;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return killed;
}
