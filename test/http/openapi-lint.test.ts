import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { repoRoot } from '../support/processes.js';
import { freshStore } from '../support/store.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'balances-openapi-lint-'));
let store: Store;
let api: TestApi;
let served: Record<string, unknown>;

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store);
  served = (await (await api.request('/openapi.json')).json()) as Record<string, unknown>;
});
afterAll(async () => {
  await api.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
}

/** Redocly's CLI with its `recommended` rules, offline: no telemetry, no update check. */
async function lint(document: unknown): Promise<LintReport> {
  const file = join(dir, `openapi-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(document, null, 2));
  const cli = join(repoRoot, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  // The CLI exits 1 when it finds errors; the report on stdout is what the test reads.
  const result = await run(process.execPath, [cli, 'lint', '--extends', 'recommended', '--format', 'json', file], { cwd: dir, env, timeout: 60_000 }).catch(
    (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
  return JSON.parse(result.stdout) as LintReport;
}

describe('the served OpenAPI document, linted by Redocly with its recommended rules', () => {
  it('has no error and no warning', async () => {
    const report = await lint(served);
    expect(report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
  });

  it('gives every operation a unique operationId, for generated clients', () => {
    const ids = Object.values(served.paths as Record<string, Record<string, { operationId?: string }>>).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('would catch a regression: an operation without operationId or 4xx answer is reported', async () => {
    const broken = structuredClone(served) as { paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>; servers?: unknown };
    const alerts = broken.paths['/v1/alerts']?.get as { operationId?: string; responses: Record<string, unknown> };
    delete alerts.operationId;
    for (const status of Object.keys(alerts.responses)) if (status.startsWith('4')) delete alerts.responses[status];
    delete broken.servers;
    const report = await lint(broken);
    expect(report.problems.map((p) => p.ruleId).sort()).toEqual(['no-empty-servers', 'operation-4xx-response', 'operation-operationId']);
  });
});
