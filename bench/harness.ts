import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../core/clickhouse.js';
import { dataDirFilesystem, describeFilesystem } from '../core/dataDirFilesystem.js';

/**
 * A fresh chDB data directory for one benchmark process, removed when the process exits: a
 * balance run leaves gigabytes behind otherwise.
 */
export function benchDataDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `balances-bench-${name}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  // Every insert's cost depends on it (core/dataDirFilesystem.ts): figures are compared on one.
  console.log(`Data directory: ${dir}, on ${describeFilesystem(dataDirFilesystem(dir))}`);
  return dir;
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export async function timeIt<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** Runs `fn` `runs` times after `warmup` untimed runs; returns the timings in ms. */
export async function sample(fn: () => Promise<unknown>, runs: number, warmup = 3): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const timings: number[] = [];
  for (let i = 0; i < runs; i++) timings.push((await timeIt(fn)).ms);
  return timings;
}

/**
 * Times two functions alternately, so both see the same moments of a machine whose speed
 * varies; returns the timings of each in ms.
 */
export async function samplePair(a: () => Promise<unknown>, b: () => Promise<unknown>, runs: number, warmup = 3): Promise<[number[], number[]]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const timings: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++) {
    timings[0].push((await timeIt(a)).ms);
    timings[1].push((await timeIt(b)).ms);
  }
  return timings;
}

export function report(title: string, rows: Array<Record<string, string | number>>): void {
  console.log(`\n## ${title}`);
  console.table(rows);
}

export const fmt = (n: number, digits = 1) => Number(n.toFixed(digits));

/** CPU time counters of this machine, from /proc/stat; undefined where there is none. */
export function cpuTimes(): { idle: number; steal: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), steal: fields[7] ?? 0, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring the share of CPU time a virtual machine's host takes away; the returned
 * function prints it. A busy host slows every figure of a run, the peers' as much as ours.
 */
export function stealMeter(): () => void {
  const before = cpuTimes();
  return () => {
    const after = cpuTimes();
    if (!before || !after || after.total <= before.total) return;
    const share = (100 * (after.steal - before.steal)) / (after.total - before.total);
    console.log(`\nCPU time taken by the host during the measurements: ${share.toFixed(1)}%`);
  };
}

/** Merges one benchmark's figures into `bench/results.json` (git-ignored) under `section`. */
export function recordResults(section: string, figures: Record<string, unknown>): void {
  const file = fileURLToPath(new URL('./results.json', import.meta.url));
  let results: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      results = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      results = {};
    }
  }
  results[section] = { at: new Date().toISOString(), ...figures };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

export interface CpuProfile {
  nodes: Array<{ id: number; hitCount?: number; callFrame: { functionName: string; url: string } }>;
  startTime: number;
  endTime: number;
}

/** Self time per function of a V8 CPU profile, largest first. */
export function topFunctions(profile: CpuProfile, count: number): Array<Record<string, string | number>> {
  const root = new URL('../', import.meta.url).href;
  const totalHits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / Math.max(1, totalHits);
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url } = node.callFrame;
    const where = url ? url.replace(root, '').replace(/^file:\/\//, '') : '';
    const name = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, hits]) => ({ function: fn, 'self ms': fmt(hits * msPerHit, 0), share: `${fmt((100 * hits) / Math.max(1, totalHits), 1)}%` }));
}

/**
 * Waits until no merge runs (in `database`, or anywhere in the process's chDB), checking every
 * `pollMs`, for at most `maxMs`: so a phase does not compete with the merges of the one before, or
 * a run does not remove its data directory under a merge still writing.
 */
export async function mergesSettled(store: Store, options: { database?: string; pollMs?: number; maxMs?: number } = {}): Promise<void> {
  const { pollMs = 250, maxMs = 60_000 } = options;
  const [where, params] = options.database === undefined ? ['', undefined] : [' WHERE database = {db:String}', { db: options.database }];
  for (let waited = 0; waited < maxMs; waited += pollMs) {
    const [running] = await store.queryTsv(`SELECT count() FROM system.merges${where}`, params);
    if (running?.[0] === '0') return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
