import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Each test process keeps its chDB data in `balances-test-<pid>` under the temp directory. A
 * process that vitest ends by signal cannot remove its own, so the run removes those it made.
 */
export default function setup(): () => void {
  const started = Date.now();
  return () => {
    for (const name of readdirSync(tmpdir())) {
      if (!name.startsWith('balances-test-')) continue;
      const dir = join(tmpdir(), name);
      if (statSync(dir).ctimeMs >= started) rmSync(dir, { recursive: true, force: true });
    }
  };
}
