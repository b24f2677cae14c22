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

type LogLine = Record<string, unknown>;

export interface RunningEntry {
  readonly pid: number;
  /** Log lines so far. */
  readonly logs: LogLine[];
  /** Everything written to stdout so far, log lines and any other text. */
  stdout(): string;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the first log line, past or future, that matches; rejects if the process exits first. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  readonly exited: Promise<RunResult>;
}

/** Starts one of the product's entry points as its own process, as an operator would. */
export function startEntry(
  entry: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; onLog?: (line: LogLine, kill: (signal: NodeJS.Signals) => void) => void } = {},
): RunningEntry {
  // node --import tsx, not the tsx wrapper: signals must reach the product's process itself.
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'info', ...env } });
  let stdout = '';
  let stderr = '';
  let buffered = '';
  let exitedAlready = false;
  const logs: LogLine[] = [];
  const watchers = new Set<(line: LogLine | undefined) => void>();
  const kill = (signal: NodeJS.Signals) => {
    if (!exitedAlready) child.kill(signal);
  };
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
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue; // not a log line
      }
      logs.push(parsed);
      options.onLog?.(parsed, kill);
      for (const watcher of [...watchers]) watcher(parsed);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      exitedAlready = true;
      clearTimeout(timer);
      process.off('exit', reap);
      for (const watcher of [...watchers]) watcher(undefined);
      resolve({ code, signal, stdout, stderr, logs });
    });
  });
  return {
    pid: child.pid ?? -1,
    logs,
    stdout: () => stdout,
    stderr: () => stderr,
    kill,
    exited,
    waitForLog(match, timeoutMs = 60_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timeout = setTimeout(() => {
          watchers.delete(watcher);
          reject(new Error(`no matching log line from ${entry} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        const watcher = (line: LogLine | undefined) => {
          if (line === undefined) {
            clearTimeout(timeout);
            watchers.delete(watcher);
            reject(new Error(`${entry} exited before the awaited log line; stderr: ${stderr.slice(-2000)}; stdout: ${stdout.slice(-2000)}`));
          } else if (match(line)) {
            clearTimeout(timeout);
            watchers.delete(watcher);
            resolve(line);
          }
        };
        if (exitedAlready) watcher(undefined);
        else watchers.add(watcher);
      });
    },
  };
}

/** Runs one of the product's entry points to its end. */
export function runEntry(
  entry: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; onLog?: (line: LogLine, kill: (signal: NodeJS.Signals) => void) => void } = {},
): Promise<RunResult> {
  return startEntry(entry, args, env, options).exited;
}
