import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Structured log lines of the process, parsed. */
  logs: Array<Record<string, unknown>>;
}

/** Runs one of the product's entry points as its own process, as an operator would. */
export function runEntry(
  entry: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; onLog?: (line: Record<string, unknown>, kill: (signal: NodeJS.Signals) => void) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // node --import tsx, not the tsx wrapper: signals must reach the product's process itself.
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'info', ...env } });
    let stdout = '';
    let stderr = '';
    let buffered = '';
    const logs: Array<Record<string, unknown>> = [];
    const kill = (signal: NodeJS.Signals) => child.kill(signal);
    // A test that times out must not leave the product running behind it.
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      buffered += chunk.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          logs.push(parsed);
          options.onLog?.(parsed, kill);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', reap);
      resolve({ code, signal, stdout, stderr, logs });
    });
  });
}
