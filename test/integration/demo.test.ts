import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { BalanceService } from '../../readmodels/balances.js';
import { DEMO_ACCOUNT, demoEvents, loadDemo } from '../../ingest/demo.js';
import { computeLedger, DAY_MS, walletKey, type WalletKey } from '../../ledger/ledger.js';
import { burnRatePerDay, forecastLotsOf, forecastWallet } from '../../ledger/forecast.js';
import { suggestMoves } from '../../ledger/suggestions.js';
import { ledgerInputOf } from '../support/histories.js';
import { units, type RefEvent } from '../support/reference.js';
import { count, freshStore, pipelineFor } from '../support/store.js';
import { startEntry, type RunningEntry } from '../support/processes.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
});

describe('the demo account', () => {
  const now = Date.UTC(2026, 10, 28, 12);

  it('is realistic: 20 teams and 4 contracts, 13 months of usage by about 200 users, moves and voids', () => {
    const events = demoEvents(now);
    const wallets = new Set(events.filter((e) => e.wallet).map((e) => JSON.stringify(e.wallet)));
    const users = new Set(events.filter((e) => e.type === 'usage').map((e) => e.user_id));
    const products = new Set(events.filter((e) => e.type === 'usage').map((e) => e.product));
    const times = events.filter((e) => e.type === 'usage').map((e) => Date.parse(String(e.occurred_at)));
    expect(wallets.size).toBe(24);
    expect(users.size).toBeGreaterThanOrEqual(190);
    expect(products.size).toBe(12);
    expect((Math.max(...times) - Math.min(...times)) / 86_400_000).toBeGreaterThan(390);
    expect(events.filter((e) => e.type === 'move').length).toBeGreaterThanOrEqual(5);
    expect(events.filter((e) => e.type === 'void').length).toBeGreaterThanOrEqual(5);
  });

  it('at the current pace, teams run out within 30 days, others let tokens expire unused, and a move between them is suggested', () => {
    const events = demoEvents(now) as unknown as RefEvent[];
    const ledger = computeLedger(ledgerInputOf(events, now, 'segments'));
    // Each wallet's own non-voided usage over the default window of 28 days.
    const voided = new Set(events.filter((e) => e.type === 'void').map((e) => e.voids_event_id));
    const windowUsage = new Map<WalletKey, bigint>();
    for (const e of events) {
      const at = Date.parse(e.occurred_at);
      if (e.type !== 'usage' || voided.has(e.event_id) || at < now - 28 * DAY_MS || at >= now) continue;
      const wallet = walletKey(e.wallet?.type ?? '', e.wallet?.id ?? '');
      windowUsage.set(wallet, (windowUsage.get(wallet) ?? 0n) + units(e.amount as string));
    }
    const lots = forecastLotsOf(ledger);
    const teams = [...ledger.wallets.values()]
      .filter((w) => w.wallet.startsWith('team/'))
      .map((balance) => {
        const ratePerDay = burnRatePerDay(windowUsage.get(balance.wallet) ?? 0n, 28);
        const own = lots.get(balance.wallet) ?? [];
        return { wallet: balance.wallet, available: balance.available, lots: own, ratePerDay, forecast: forecastWallet(own, ratePerDay, now) };
      });

    const runningOutSoon = teams.filter((t) => t.available > 0n && t.forecast.runsOutAt !== null && t.forecast.runsOutAt <= now + 30 * DAY_MS);
    expect(runningOutSoon.length).toBeGreaterThanOrEqual(2);
    expect(teams.filter((t) => t.forecast.runsOutAt !== null && t.forecast.runsOutAt > now + 90 * DAY_MS).length).toBeGreaterThan(teams.length / 2);
    expect(teams.filter((t) => t.forecast.projectedUnusedTotal > 0n).length).toBeGreaterThan(3);

    const suggestions = suggestMoves(teams, now);
    expect(suggestions.length).toBeGreaterThanOrEqual(1);
    // The first saves tokens about to expire for a team that runs out before they do.
    const [first] = suggestions;
    expect(runningOutSoon.map((t) => t.wallet)).toContain(first?.to);
    expect(first?.toRunsOutAtBefore).toBeLessThan(first?.expiresAt as number);
    expect(first?.toRunsOutAtAfter).toBeGreaterThan(first?.toRunsOutAtBefore as number);
  });

  it('loads through the pipeline once: a second load stores nothing', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    const first = await loadDemo(pipeline, now);
    expect(first.accepted).toBe(first.events);
    const second = await loadDemo(pipeline, now + 86_400_000);
    expect(second).toMatchObject({ accepted: 0, duplicates: first.events });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(first.events);
  });

  it('shows expired lots, lots expiring within 90 days, and a few teams in overage', async () => {
    const ledger = await new BalanceService(store as Store, () => now).current(DEMO_ACCOUNT);
    expect(ledger.lots.some((l) => l.hasExpired && l.expired > 0n)).toBe(true);
    const flagged = [...ledger.wallets.values()].filter((w) => w.expiringWithin90d > 0n);
    expect(flagged.length).toBeGreaterThan(3);
    const inOverage = [...ledger.wallets.values()].filter((w) => w.overage > 0n);
    expect(inOverage.length).toBeGreaterThan(0);
    expect(inOverage.length).toBeLessThan(ledger.wallets.size);
    expect([...ledger.wallets.values()].some((w) => w.status === 'red')).toBe(true);
    expect([...ledger.wallets.values()].some((w) => w.status === 'green')).toBe(true);
  });
});

/** The demo's closing lines: its URL and admin key, then a curl line and a blank line. */
const BANNER = /\nDemo account "demo" is ready on (http:\/\/localhost:\d+)\nAdmin API key for this run: (demo-\S+)\n {2}curl .*\n\n/;

/** Waits until stdout holds the whole banner; null if the process ends or the time runs out first. */
async function bannerOf(api: RunningEntry, timeoutMs: number): Promise<RegExpExecArray | null> {
  const until = Date.now() + timeoutMs;
  let ended = false;
  void api.exited.then(() => (ended = true));
  for (;;) {
    const found = BANNER.exec(api.stdout());
    if (found || ended || Date.now() > until) return found;
    await sleep(100);
  }
}

describe('npm start with the demo account', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'balances-demo-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('logs JSON lines when stdout is not a terminal, and prints the URL and admin key last, a key that answers', async () => {
    const api = startEntry('api/main.ts', ['--demo'], { BALANCES_DATA_DIR: dataDir, PORT: '0' }, { timeoutMs: 240_000 });
    const banner = await bannerOf(api, 200_000);
    expect(banner, `no banner; stdout: ${api.stdout().slice(-2000)}; stderr: ${api.stderr().slice(-2000)}`).not.toBeNull();
    const [printed, url, key] = banner as RegExpExecArray;
    // Whatever the start-up still had to log would arrive now, below the key.
    await sleep(1_000);
    const stdout = api.stdout();
    const at = stdout.indexOf(printed);
    expect(stdout.slice(at + printed.length).trim()).toBe('');
    const lines = stdout.slice(0, at).split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ event: expect.any(String), msg: expect.any(String) });
    expect(lines.map((line) => (JSON.parse(line) as { event: string }).event)).toEqual(expect.arrayContaining(['demo_loaded', 'listening']));

    const wallets = await fetch(`${url}/v1/wallets`, { headers: { authorization: `Bearer ${key}` } });
    expect(wallets.status).toBe(200);
    expect(((await wallets.json()) as { wallets: unknown[] }).wallets).toHaveLength(24);

    api.kill('SIGTERM');
    const exit = await api.exited;
    expect(exit.code, `signal ${exit.signal}; stderr: ${exit.stderr.slice(-2000)}; stdout: ${exit.stdout.slice(-1000)}`).toBe(0);
  }, 300_000);
});
