import { spawn, type ChildProcess } from 'node:child_process';

export interface MockBroker {
  brokers: string[];
  /** Freezes the broker process (SIGSTOP): connections stay open and nothing answers. */
  freeze(): void;
  /** Lets a frozen broker run again (SIGCONT). */
  thaw(): void;
  stop(): Promise<void>;
}

/**
 * librdkafka's built-in test broker, started through `kcat`: the real Kafka wire protocol,
 * topics auto-created with 4 partitions. It keeps only about 5 MB per partition.
 */
export async function startMockBroker(): Promise<MockBroker> {
  const child: ChildProcess = spawn('kcat', ['-X', 'test.mock.num.brokers=1', '-C', '-t', 'any', '-b', 'localhost:1', '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // The broker must not outlive the test process, even when a test times out.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`kcat mock broker did not start: ${stderr}`)), 15_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start kcat (apt-get install kcat): ${err.message}`));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /(?:bootstrap\.servers=|replaced with )(\d[^\s,]*(?:,\d[^\s,]*)*)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
  });
  return {
    brokers: bootstrap.split(','),
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Produces NDJSON lines with the `kcat` CLI, a Kafka client this project did not write. */
export function produceWithKcat(brokers: string[], topic: string, lines: string[], key?: string, compression?: 'gzip'): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['-P', '-b', brokers.join(','), '-t', topic];
    if (compression) args.push('-z', compression);
    if (key) args.push('-K', '\t');
    const child = spawn('kcat', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat -P exited ${code}: ${stderr}`))));
    child.stdin.end(lines.map((l) => (key ? `${key}\t${l}` : l)).join('\n') + '\n');
  });
}

/** Reads every message of a topic with `kcat`, headers included, until the end of the topic. */
export function consumeWithKcat(brokers: string[], topic: string): Promise<Array<{ value: string; headers: string }>> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-C', '-b', brokers.join(','), '-t', topic, '-e', '-q', '-f', '%h\t%s\n'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', () =>
      resolve(
        out
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const tab = line.indexOf('\t');
            return { headers: line.slice(0, tab), value: line.slice(tab + 1) };
          }),
      ),
    );
  });
}
