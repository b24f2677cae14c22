/**
 * Balance reads and usage analytics on the embedded default: 1,000 wallets, 10 million usage events over 400 days,
 * six lots per wallet and a few moves. Measured through the HTTP API, against replaying the
 * raw usage events in the same run (the cheapest replay: one pass summing raw rows per wallet).
 */
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createStore } from '../core/clickhouse.js';
import { parseConfig, serverConfigSchema } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { computeLedger } from '../ledger/ledger.js';
import { loadLedgerInput } from '../readmodels/ledgerSource.js';
import { composeServer } from '../api/compose.js';
import { pairVoidedUsage } from '../storage/voids.js';
import { measureTables, tablesRows } from './tables.js';
import { benchDataDir, fmt, percentile, recordResults, report, sample, samplePair, stealMeter } from './harness.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const WALLETS = 1000;
const DAYS = 400;
const DAY = 86_400_000;
const ACCOUNT = 'bench';
const now = Date.now();
const start = Math.floor(now / DAY) * DAY - DAYS * DAY;

const log = createLogger('silent');
/** Every named query this process runs, in order: where each timed read spends its storage time. */
const queries: Array<{ name: string; ms: number }> = [];
const store = createStore({ dataDir: benchDataDir('balances'), database: 'bench', observer: (s) => queries.push({ name: s.name, ms: s.seconds * 1000 }) });
// The server process as `npm start` wires it, with this benchmark's store and key, no rate limit
// (the benchmark is one client asking as fast as it can), and the default usage index budget, which
// this account exceeds, so every usage read goes to storage. Its background parts (aggregator,
// alert evaluator) are not started: the reads below are measured alone.
const config = parseConfig(serverConfigSchema, { LOG_LEVEL: 'silent', BALANCES_RATE_LIMIT_PER_MIN: '0' });
const server = await composeServer({ config, store, log, apiKeys: [{ key: 'bench', accountId: ACCOUNT, role: 'admin' }] });
const { pipeline } = server;

const walletId = (w: number) => `wallet-${String(w).padStart(4, '0')}`;
const walletType = (w: number) => (w % 25 === 0 ? 'contract' : 'team');

// Lots and moves go through the pipeline, as in production.
const lots: string[] = [];
for (let w = 0; w < WALLETS; w++) {
  for (let l = 0; l < 6; l++) {
    const effective = start + (l * 70 + (w % 13)) * DAY;
    lots.push(
      JSON.stringify({
        event_id: `lot-${w}-${l}`,
        type: 'purchase',
        account_id: ACCOUNT,
        occurred_at: new Date(effective).toISOString(),
        wallet: { type: walletType(w), id: walletId(w) },
        // Names come with purchases, as a billing system sends them.
        wallet_name: `${walletType(w) === 'team' ? 'Team' : 'Contract'} ${w}`,
        amount: String(2_000 + ((w * 7 + l * 13) % 9) * 1_000),
        expires_at: new Date(effective + (180 + ((w + l) % 4) * 60) * DAY).toISOString(),
      }),
    );
  }
}
for (let m = 0; m < 40; m++) {
  const from = (m * 37) % WALLETS;
  let to = (from + 1) % WALLETS;
  while (walletType(to) !== walletType(from)) to = (to + 1) % WALLETS;
  lots.push(
    JSON.stringify({
      event_id: `move-${m}`,
      type: 'move',
      account_id: ACCOUNT,
      occurred_at: new Date(start + (50 + m * 8) * DAY + 37_000_123).toISOString(),
      from: { type: walletType(from), id: walletId(from) },
      to: { type: walletType(to), id: walletId(to) },
      amount: '750',
    }),
  );
}
await pipeline.ingest(lots.map((text) => ({ text })), { source: 'bench' });

// Usage is generated inside ClickHouse: 10M events through the same insert path and views.
const chunk = 1_000_000;
const loadStarted = performance.now();
for (let offset = 0; offset < EVENTS; offset += chunk) {
  await store.command(
    `INSERT INTO ${store.table('events_v1')}
       (account_id, event_id, type, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, source)
     SELECT {account:String}, concat('use-', toString(n)), 'usage',
            toDateTime64({start:Int64} / 1000 + (cityHash64(n, 1) % ({days:UInt32} * 86400)), 3, 'UTC') + toIntervalMillisecond(cityHash64(n, 5) % 1000),
            if(w % 25 = 0, 'contract', 'team'), concat('wallet-', leftPad(toString(w), 4, '0')),
            toDecimal64((cityHash64(n, 2) % 10000) / 100, 4),
            concat('user-', leftPad(toString(cityHash64(n, 3) % 5000), 5, '0')),
            ['compiler','debugger','profiler','linker','analyzer','simulator','renderer','encoder','translator','indexer','scheduler','optimizer'][(cityHash64(n, 4) % 12) + 1] AS p,
            concat(p, '-', toString(cityHash64(n, 6) % 3)), 'bench'
     FROM (SELECT number + {offset:UInt64} AS n, cityHash64(n, 0) % {wallets:UInt32} AS w FROM numbers({rows:UInt64}))`,
    { account: ACCOUNT, start, days: DAYS, offset, rows: Math.min(chunk, EVENTS - offset), wallets: WALLETS },
  );
}
// One usage event in a thousand voided, through the pipeline, which pairs each with its usage.
const voids = Array.from({ length: Math.floor(EVENTS / 1000) }, (_, v) =>
  JSON.stringify({ event_id: `void-${v}`, type: 'void', account_id: ACCOUNT, occurred_at: new Date(now - 60_000).toISOString(), voids_event_id: `use-${(v * 7_919 + 13) % EVENTS}` }),
);
for (let v = 0; v < voids.length; v += 1000) await pipeline.ingest(voids.slice(v, v + 1000).map((text) => ({ text })), { source: 'bench' });
// A bulk load is paired as the aggregator pairs a stream: once stored.
await pairVoidedUsage(store, [ACCOUNT]);
const loadSeconds = (performance.now() - loadStarted) / 1000;
// The balance tables Grafana reads, as the aggregator writes them.
await server.aggregator?.recompute(ACCOUNT);
// A bulk load leaves each table in several unmerged parts that a live system merges in the
// background over time; merge them all now and wait, so the reads below see the steady state
// and no background work competes with them for the two cores: no merge, no deletion of the
// parts merges replaced (due minutes later otherwise), no write-back of the gigabytes just written.
const tables = await store.queryRows<{ name: string }>(
  `SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'`,
  { db: store.database },
);
for (const { name } of tables) {
  await store.command(`ALTER TABLE ${store.table(name)} MODIFY SETTING old_parts_lifetime = 1`);
  await store.command(`OPTIMIZE TABLE ${store.table(name)} FINAL`);
}
const settled = async (query: string) => {
  for (let waited = 0; waited < 180_000; waited += 500) {
    const [row] = await store.queryRows<{ n: string }>(query, { db: store.database });
    if (Number(row?.n ?? 0) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`Background work still pending after 3 minutes; measuring anyway (${query})`);
};
await settled(`SELECT count() AS n FROM system.merges WHERE database = {db:String}`);
await settled(`SELECT count() AS n FROM system.parts WHERE database = {db:String} AND NOT active`);
execFileSync('sync');

const listener = server.app.listen(0, '127.0.0.1');
await new Promise((r) => listener.once('listening', r));
const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
const request = async (path: string) => {
  const res = await fetch(base + path, { headers: { authorization: 'Bearer bench' } });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return res;
};
/**
 * A timed API read runs until the whole response body has arrived, as HTTP latency is measured;
 * what a client then does with the bytes is its own time. The peers likewise stop when the raw
 * query's result text is in hand.
 */
const get = async (path: string) => (await request(path)).arrayBuffer();
const getJson = async (path: string) => (await request(path)).json();

const RUNS = 200;
/** Storage time per request of one timed read, by named query: the profile of a read that misses its goal. */
const storageProfile: Array<Record<string, string | number>> = [];
const profiled = async <T>(read: string, requests: number, run: () => Promise<T>): Promise<T> => {
  const from = queries.length;
  const result = await run();
  const byName = new Map<string, { calls: number; ms: number }>();
  for (const q of queries.slice(from)) {
    const entry = byName.get(q.name) ?? { calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += q.ms;
    byName.set(q.name, entry);
  }
  for (const [name, { calls, ms }] of [...byName].sort((a, b) => b[1].ms - a[1].ms)) {
    storageProfile.push({ read, query: name, 'calls/request': fmt(calls / requests, 2), 'ms/request': fmt(ms / requests, 2) });
  }
  return result;
};
const stolen = stealMeter();
const rawReplay = await sample(
  () =>
    store.queryJsonLines(
      `SELECT wallet_type, wallet_id, sum(amount) FROM ${store.table('events_v1')}
       WHERE account_id = {account:String} AND type = 'usage' GROUP BY wallet_type, wallet_id`,
      { account: ACCOUNT },
    ),
  20,
);
const cold = await sample(async () => computeLedger(await loadLedgerInput(store, { accountId: ACCOUNT, at: Date.now() })), 10, 1);
const wallets = await sample(() => get('/v1/wallets'), RUNS);
const listed = (await getJson('/v1/wallets')) as { wallets: Array<{ wallet: { type: string; id: string } }> };
let i = 0;
const oneBalance = await sample(() => {
  const w = listed.wallets[(i++ * 7919) % listed.wallets.length]?.wallet;
  return get(`/v1/wallets/${w?.type}/${w?.id}/balance`);
}, RUNS);
const balanceAt = await profiled('GET …/balance?at=now-30d', 50, () =>
  sample(() => {
    const w = listed.wallets[(i++ * 7919) % listed.wallets.length]?.wallet;
    return get(`/v1/wallets/${w?.type}/${w?.id}/balance?at=now-30d`);
  }, 50),
);
const expiring = await sample(() => get('/v1/expiring?within_days=90'), 50);
// Forecasts (SPEC §5) against the plain balance read: one wallet's projection, and the account's
// suggested moves over every wallet.
const oneForecast = await profiled('GET …/forecast (one wallet)', RUNS, () =>
  sample(() => {
    const w = listed.wallets[(i++ * 7919) % listed.wallets.length]?.wallet;
    return get(`/v1/wallets/${w?.type}/${w?.id}/forecast`);
  }, RUNS),
);
const suggestions = await profiled('GET /v1/suggestions/moves (every wallet)', 50, () => sample(() => get('/v1/suggestions/moves'), 50));

// Usage analytics through the API, against the same question asked of the raw table.
const walletsForUsage = listed.wallets.map((w) => w.wallet);
let k = 0;
// Each usage query alternates with its raw-table peer, so both see the same moments of the host.
const [oneWalletService, rawOneWalletService] = await profiled('GET /v1/usage one wallet, 90 days by service (with its raw peer)', RUNS, () => samplePair(
  () => {
    const w = walletsForUsage[(k++ * 7919) % walletsForUsage.length];
    return get(`/v1/usage?wallet_type=${w?.type}&wallet_id=${w?.id}&group_by=service&from=now-90d`);
  },
  () => {
    const w = walletsForUsage[(k * 7919) % walletsForUsage.length];
    return store.queryJsonLines(
      `SELECT service, sum(amount), count() FROM ${store.table('events_v1')}
       WHERE account_id = {account:String} AND wallet_type = {type:String} AND wallet_id = {id:String} AND type = 'usage'
         AND occurred_at >= now64(3) - INTERVAL 90 DAY GROUP BY service`,
      { account: ACCOUNT, type: w?.type, id: w?.id },
    );
  },
  RUNS,
));
const [accountByUser, rawAccountByUser] = await profiled('GET /v1/usage whole account, 365 days by user (with its raw peer)', 100, () => samplePair(
  () => get('/v1/usage?group_by=user&from=now-365d'),
  () =>
    store.queryJsonLines(
      `SELECT user_id, sum(amount), count() FROM ${store.table('events_v1')}
       WHERE account_id = {account:String} AND type = 'usage' AND occurred_at >= now64(3) - INTERVAL 365 DAY GROUP BY user_id`,
      { account: ACCOUNT },
    ),
  // Enough pairs that the p95 is not simply the third-slowest answer.
  100,
));
listener.close();
// Each derived table against the next-best plan for each question it serves, after the API reads.
const tablesReport = await measureTables(store, ACCOUNT);

const p95 = (s: number[]) => fmt(percentile(s, 95), 2);
const p50 = (s: number[]) => fmt(percentile(s, 50), 2);
const replayP50 = percentile(rawReplay, 50);
report(`Balance reads: ${WALLETS} wallets, ${(EVENTS / 1e6).toFixed(1)}M usage events over ${DAYS} days (loaded in ${fmt(loadSeconds)} s)`, [
  { read: 'raw replay: sum every usage event by wallet (peer)', 'p50 ms': p50(rawReplay), 'p95 ms': p95(rawReplay), 'peer p50 ÷ this p95': 1 },
  { read: 'ledger from rollups, no snapshot (cold)', 'p50 ms': p50(cold), 'p95 ms': p95(cold), 'peer p50 ÷ this p95': fmt(replayP50 / percentile(cold, 95), 2) },
  { read: 'GET /v1/wallets (target p95 < 100 ms, ≥ 10× the peer)', 'p50 ms': p50(wallets), 'p95 ms': p95(wallets), 'peer p50 ÷ this p95': fmt(replayP50 / percentile(wallets, 95), 1) },
  { read: 'GET /v1/wallets/{type}/{id}/balance (target p95 < 20 ms)', 'p50 ms': p50(oneBalance), 'p95 ms': p95(oneBalance), 'peer p50 ÷ this p95': fmt(replayP50 / percentile(oneBalance, 95), 1) },
  { read: 'GET …/balance?at=now-30d (one wallet group, no snapshot)', 'p50 ms': p50(balanceAt), 'p95 ms': p95(balanceAt), 'peer p50 ÷ this p95': fmt(replayP50 / percentile(balanceAt, 95), 1) },
  { read: 'GET /v1/expiring', 'p50 ms': p50(expiring), 'p95 ms': p95(expiring), 'peer p50 ÷ this p95': fmt(replayP50 / percentile(expiring, 95), 1) },
]);
report('Forecasts, against the plain balance read of one wallet in the same run', [
  { read: 'GET …/balance, one wallet (peer)', 'p50 ms': p50(oneBalance), 'p95 ms': p95(oneBalance), 'this p95 ÷ peer p95': 1 },
  { read: 'GET /v1/wallets with burn rate, run-out and projected unused (target p95 < 100 ms)', 'p50 ms': p50(wallets), 'p95 ms': p95(wallets), 'this p95 ÷ peer p95': fmt(percentile(wallets, 95) / percentile(oneBalance, 95), 1) },
  { read: 'GET …/forecast, one wallet (target p95 < 20 ms)', 'p50 ms': p50(oneForecast), 'p95 ms': p95(oneForecast), 'this p95 ÷ peer p95': fmt(percentile(oneForecast, 95) / percentile(oneBalance, 95), 1) },
  { read: `GET /v1/suggestions/moves, ${WALLETS} wallets (target p95 < 200 ms)`, 'p50 ms': p50(suggestions), 'p95 ms': p95(suggestions), 'this p95 ÷ peer p95': fmt(percentile(suggestions, 95) / percentile(oneBalance, 95), 1) },
]);
report('Usage analytics through the API, against the raw table in the same run', [
  { query: 'raw table: one wallet, 90 days by service (peer)', 'p50 ms': p50(rawOneWalletService), 'p95 ms': p95(rawOneWalletService), 'peer p50 ÷ this p95': 1 },
  { query: 'GET /v1/usage one wallet, 90 days by service (target p95 < 20 ms)', 'p50 ms': p50(oneWalletService), 'p95 ms': p95(oneWalletService), 'peer p50 ÷ this p95': fmt(percentile(rawOneWalletService, 50) / percentile(oneWalletService, 95), 2) },
  { query: 'raw table: whole account, 365 days by user (peer)', 'p50 ms': p50(rawAccountByUser), 'p95 ms': p95(rawAccountByUser), 'peer p50 ÷ this p95': 1 },
  { query: 'GET /v1/usage whole account, 365 days by user (target p95 < 60 ms, ≥ 5×)', 'p50 ms': p50(accountByUser), 'p95 ms': p95(accountByUser), 'peer p50 ÷ this p95': fmt(percentile(rawAccountByUser, 50) / percentile(accountByUser, 95), 2) },
]);
report('Every derived table: the questions it serves, against the next-best plan without it (p50s, alternated in this run; answers checked equal)', tablesRows(tablesReport));
report('Storage time per request by named query (the peers ask storage directly and are not counted)', storageProfile);
stolen();
const ms = (s: number[], q: number) => Number(fmt(percentile(s, q), 2));
const figures = (ours: number[], raw: number[]) => ({ p50_ms: ms(ours, 50), p95_ms: ms(ours, 95), raw_p50_ms: ms(raw, 50), raw_p95_ms: ms(raw, 95) });
recordResults('queries', {
  events: EVENTS,
  wallets: WALLETS,
  // The balance reads' peer is the raw replay; each usage read's peer is the same question of the raw table.
  wallets_list: figures(wallets, rawReplay),
  balance_one: figures(oneBalance, rawReplay),
  balance_at_30d_ago: figures(balanceAt, rawReplay),
  usage_90d_by_service: figures(oneWalletService, rawOneWalletService),
  usage_365d_by_user_account: figures(accountByUser, rawAccountByUser),
  // The forecasts' peer is the plain balance read of one wallet.
  forecast_one: figures(oneForecast, oneBalance),
  suggestions_moves: figures(suggestions, oneBalance),
});
recordResults('tables', { events: EVENTS, ...tablesReport });
// chDB runs inside this process: the peak covers storage's memory as well as the API's.
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
recordResults('memory', { peak_rss_mb: peakRssMb, events: EVENTS, usage_index_entries_budget: 2_000_000 });
report('Memory of this process (API and embedded chDB), with the events loaded and read', [{ figure: 'peak RSS, MB', value: peakRssMb }]);
await store.close();
process.exit(0);
