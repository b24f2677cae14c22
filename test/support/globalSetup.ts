import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    for (const name of readdirSync(tmpdir())) {
      const match = /^balances-test-(\d+)$/.exec(name);
      if (!match) continue;
      const dir = join(tmpdir(), name);
      if (statSync(dir).ctimeMs >= started && !alive(Number(match[1]))) rmSync(dir, { recursive: true, force: true });
    }
  };
}
