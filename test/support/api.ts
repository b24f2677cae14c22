import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../../api/app.js';
import { BalanceService, freshnessOf } from '../../readmodels/balances.js';
import type { Store } from '../../core/clickhouse.js';
import type { ApiKey } from '../../core/config.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { pairVoidedUsage } from '../../storage/voids.js';
import { silentLog } from './store.js';

export const KEYS: ApiKey[] = [
  { key: 'acme-admin', accountId: 'acme', role: 'admin' },
  { key: 'acme-analyst', accountId: 'acme', role: 'analyst' },
  { key: 'acme-ingest', accountId: 'acme', role: 'ingest' },
  { key: 'globex-admin', accountId: 'globex', role: 'admin' },
];

export interface TestApi {
  url: string;
  request(path: string, init?: RequestInit & { key?: string }): Promise<Response>;
  close(): Promise<void>;
}

/** The real app on a real port, over a migrated chDB database of the test's own. */
export async function startApi(store: Store, options: { bodyLimitBytes?: number; clock?: () => number; keys?: ApiKey[] } = {}): Promise<TestApi> {
  const metrics = createMetrics();
  const balances = new BalanceService(store, options.clock);
  const pipeline = createIngestPipeline({ store, metrics, log: silentLog, onStored: (accounts, source) => balances.invalidate(accounts, freshnessOf(source)), afterStore: (accounts) => pairVoidedUsage(store, accounts) });
  const app = createApp({ store, pipeline, metrics, log: silentLog, apiKeys: [...KEYS, ...(options.keys ?? [])], bodyLimitBytes: options.bodyLimitBytes ?? 8 * 1024 * 1024, balances });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    request(path, init = {}) {
      const { key, headers, ...rest } = init;
      return fetch(url + path, {
        ...rest,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(headers as Record<string, string> | undefined) },
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
