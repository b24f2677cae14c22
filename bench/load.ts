/**
 * Real time under load, on the embedded default: one process holding chDB, the API, the Kafka
 * ingest worker, the balance aggregator and the alert evaluator, wired by `composeServer` as
 * `npm start` wires it, with the demo account loaded. Readers (one API key each, no rate limit)
 * loop over the read routes, first with nothing arriving (the peer), then while
 * usage events arrive over Kafka at a paced rate. Goals, all at once:
 *   - the stream is stored as fast as it is produced (stored ÷ produced rate ≥ 0.99), each
 *     event exactly once;
 *   - an event shows in the API's balance within 1 s and in the balance tables within 1.5 s (p99);
 *   - reads answer within 250 ms (p99) under the stream, without errors;
 *   - with 32 readers and nothing arriving, ≥ 3,000 reads/s with p99 ≤ 50 ms.
 *   npm run bench -- load                 32 readers, 5,000 events/s, 60 s each phase
 *   npm run bench -- freshness            4 readers, 10,000 events/s, 30 s
 *   npm run bench -- load --seconds 15    a quicker run
 */
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createStore } from '../core/clickhouse.js';
import { createLogger } from '../core/log.js';
import { composeServer } from '../api/compose.js';
import { DEMO_ACCOUNT, loadDemo } from '../ingest/demo.js';
import { startMockBroker } from '../test/support/mockBroker.js';
import { child, readersConfig, ROUTES, type ProduceResult, type ReadResult, type Wallet } from './loadClients.js';
import { benchDataDir, fmt, mergesSettled, percentile, recordResults, report, stealMeter, topFunctions, type CpuProfile } from './harness.js';
import { toScaled } from '../core/decimal.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '5000' },
    readers: { type: 'string', default: '32' },
    /** Samples the server's JavaScript in both phases and prints where its time went. */
    profile: { type: 'boolean', default: false },
    /**
     * The stream on only the topic's first N partitions (of the broker's 4), as a topic with N
     * partitions: each partition with records costs one insert per flush.
     */
    partitions: { type: 'string' },
    /** The section of bench/results.json this run writes: `load` or `freshness` (or `none`). */
    record: { type: 'string', default: 'load' },
  },
  strict: true,
});
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const readerCount = Number(args.readers);
const partitions = args.partitions === undefined ? undefined : Number(args.partitions);
if (partitions !== undefined && !(Number.isInteger(partitions) && partitions >= 1 && partitions <= 4)) throw new Error('--partitions must be 1 to 4');
if (!(seconds > 0 && rate > 0 && readerCount > 0)) throw new Error('--seconds, --rate and --readers must be positive numbers');

const GOALS = { storedRatio: 0.99, apiLagMs: 1_000, tableLagMs: 1_500, readP99Ms: 250, quietReadsPerS: 3_000, quietP99Ms: 50 };
const WARMUP_SECONDS = 3;
const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(', ');

// ------------------------------------------------------------------ the process, as npm start wires it
const broker = await startMockBroker();
const { config, keys } = readersConfig(broker.brokers, readerCount, 'load-reader');
/** Every named storage query, timed: where storage time goes in each phase. */
const queries: Array<{ name: string; ms: number; at: number }> = [];
const store = createStore({
  dataDir: benchDataDir('load'),
  database: 'bench',
  observer: ({ name, seconds: s }) => queries.push({ name, ms: s * 1000, at: performance.now() - s * 1000 }),
});
const server = await composeServer({ config, store, log: createLogger('silent') });
const demoStarted = performance.now();
const demo = await loadDemo(server.pipeline);
const demoSeconds = (performance.now() - demoStarted) / 1000;
const http = server.app.listen(0, '127.0.0.1');
await new Promise((r) => http.once('listening', r));
const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
await server.start();
let workerFailure: unknown;
server.worker?.done.catch((err: unknown) => (workerFailure = err));

// The demo load's merges settle first, so the quiet phase is quiet.
await mergesSettled(store, { database: 'bench', pollMs: 500 });
const auth = { authorization: `Bearer ${keys[0]}` };
const listed = (await (await fetch(`${base}/v1/wallets`, { headers: auth })).json()) as { wallets: Array<{ wallet: Wallet }> };
const wallets = listed.wallets.map((w) => w.wallet);
// One untimed pass over every route, so neither phase pays for first-use compilation.
await child<ReadResult>('readers', { base, keys: keys.slice(0, 1), wallets, seconds: 2 });

const kafkaEvents = async () => {
  const [row] = await store.queryRows<{ n: string; latest: string }>(
    `SELECT count() AS n, toUnixTimestamp64Milli(max(occurred_at)) AS latest FROM bench.events_v1
     WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka'`,
  );
  return { n: Number(row?.n ?? 0), latest: Number(row?.latest ?? 0) };
};

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const stolen = stealMeter();
const profiler = args.profile ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
}
/** Runs the readers for `seconds`, with the event loop's delay and (with --profile) the CPU sampled. */
async function phase(): Promise<{ reads: ReadResult; started: number; ended: number; loopP99: number; profile?: CpuProfile }> {
  if (profiler) await profiler.post('Profiler.start');
  loopDelay.reset();
  loopDelay.enable();
  const started = performance.now();
  const reads = await child<ReadResult>('readers', { base, keys, wallets, seconds });
  const ended = performance.now();
  loopDelay.disable();
  const profile = profiler ? ((await profiler.post('Profiler.stop')) as { profile: CpuProfile }).profile : undefined;
  return { reads, started, ended, loopP99: loopDelay.percentile(99) / 1e6, profile };
}

// ------------------------------------------------------------------ phase 1, the peer: nothing arriving
const quiet = await phase();

// ------------------------------------------------------------------ phase 2: the stream arrives
/**
 * How old the newest event a balance reflects is, at a moment a user looks. Once a second:
 *   - stored: the newest produced event in storage;
 *   - API: what `/v1/wallets` answers, and balance tables: what `wallet_balances_v1` holds. Each
 *     is read by content, not by the instant it says it is of: the account's usage in the
 *     balance (Σ used + overage over its wallets) less the same sum before the stream began is
 *     the streamed usage it includes. The longest run of stored blocks, in the order they were
 *     stamped, whose amounts sum to no more than that is what it reflects, and the newest event
 *     of that run is its age. A balance that counts a block out of order is read as older, never
 *     younger.
 */
const lags = { stored: [] as number[], tables: [] as number[], api: [] as number[] };
/** Events the broker held past what the worker had fetched, as its last fetch of each partition said: the part of the stream's age spent before ingest. */
const unfetched: number[] = [];
const brokerLag = async () => (await server.metrics.consumerLag.get()).values.reduce((sum, v) => sum + v.value, 0);
/** Streamed usage each look found in a balance, with the instant of the look; turned into ages once the stream is stored. */
const looks = { tables: [] as Array<{ at: number; included: bigint }>, api: [] as Array<{ at: number; included: bigint }> };
type WalletsAnswer = { at: string; wallets: Array<{ used: string; overage: string }> };
const apiUsage = async () => {
  const body = (await (await fetch(`${base}/v1/wallets`, { headers: auth })).json()) as WalletsAnswer;
  return body.wallets.reduce((sum, w) => sum + toScaled(w.used) + toScaled(w.overage), 0n);
};
const tableUsage = async () => {
  const [row] = await store.queryRows<{ u: string }>(
    `SELECT toString(sum(used + overage)) AS u FROM bench.wallet_balances_v1 WHERE account_id = '${DEMO_ACCOUNT}'`,
  );
  return toScaled(row?.u ?? '0');
};
/** A look is as old as the moment its answer arrived: what it reflects was computed no later. */
const look = (into: Array<{ at: number; included: bigint }>, usage: () => Promise<bigint>, before: bigint) => {
  void usage()
    .then((u) => into.push({ at: Date.now(), included: u - before }))
    .catch(() => undefined);
};
const [apiBefore, tablesBefore] = [await apiUsage(), await tableUsage()];
const producingSince = Date.now();
const producing = child<ProduceResult>('producer', { brokers: broker.brokers, rate, seconds: seconds + WARMUP_SECONDS, wallets, ...(partitions ? { partitions } : {}) });
await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
const atStart = await kafkaEvents();
/** The pipeline's own histograms: how many steps stored the stream, and how long they took. */
const flushes = async () => {
  const [seconds, sizes] = await Promise.all([server.metrics.flushSeconds.get(), server.metrics.batchSize.get()]);
  const sum = (m: typeof seconds, suffix: string) => m.values.filter((v) => v.metricName?.endsWith(suffix)).reduce((a, v) => a + v.value, 0);
  return { steps: sum(seconds, '_count'), seconds: sum(seconds, '_sum'), blocks: sum(sizes, '_count'), messages: sum(sizes, '_sum') };
};
const flushesAtStart = await flushes();
const sampler = setInterval(() => {
  const now = Date.now();
  void kafkaEvents()
    .then(({ latest }) => latest > 0 && lags.stored.push(now - latest))
    .catch(() => undefined);
  look(looks.tables, tableUsage, tablesBefore);
  look(looks.api, apiUsage, apiBefore);
  void brokerLag().then((n) => unfetched.push(n));
}, 1000);
const loaded = await phase();
clearInterval(sampler);
const atEnd = await kafkaEvents();
const flushesAtEnd = await flushes();
const produced = await producing;
const windowSeconds = (loaded.ended - loaded.started) / 1000;

// Every produced event stored, once.
const drainStarted = performance.now();
let stored = atEnd.n;
while (stored < produced.produced && performance.now() - drainStarted < 180_000 && workerFailure === undefined) {
  await new Promise((r) => setTimeout(r, 250));
  stored = (await kafkaEvents()).n;
}
const drainSeconds = (performance.now() - drainStarted) / 1000;
// The stored blocks in stamp order, each with its amount and newest event: the ages of the looks.
const blocks = await store.queryTsv(
  `SELECT toString(sum(amount)), toUnixTimestamp64Milli(max(occurred_at)) FROM bench.events_v1
   WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka' GROUP BY ingested_at ORDER BY ingested_at`,
);
const runs: Array<{ upTo: bigint; newest: number }> = [];
let upTo = 0n;
let newest = 0;
for (const [amount = '0', latest = '0'] of blocks) {
  upTo += toScaled(amount);
  newest = Math.max(newest, Number(latest));
  runs.push({ upTo, newest });
}
const ageOf = ({ at, included }: { at: number; included: bigint }) => {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((runs[mid] as (typeof runs)[number]).upTo <= included) lo = mid + 1;
    else hi = mid;
  }
  // No block counted yet: the look is as old as the stream.
  return at - (lo === 0 ? producingSince : (runs[lo - 1] as (typeof runs)[number]).newest);
};
lags.api.push(...looks.api.map(ageOf));
lags.tables.push(...looks.tables.map(ageOf));
await server.stop().catch((err: unknown) => (workerFailure ??= err));
http.close();
stolen();
const [exact] = await store.queryRows<{ rows: string; ids: string }>(
  `SELECT count() AS rows, uniqExact(event_id) AS ids FROM bench.events_v1 WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka'`,
);
const exactlyOnce = Number(exact?.rows) === produced.produced && Number(exact?.ids) === produced.produced;
await broker.stop();

// ------------------------------------------------------------------ figures
const all = (r: ReadResult) => Object.values(r.timings).flat();
const errorsOf = (r: ReadResult) => Object.values(r.errors).reduce((a, b) => a + b, 0);
const p = (samples: number[], q: number) => fmt(percentile(samples, q), 1);
const routeRows = [...ROUTES.map((r) => r.name), 'all routes'].map((name) => {
  const q = name === 'all routes' ? all(quiet.reads) : (quiet.reads.timings[name] ?? []);
  const l = name === 'all routes' ? all(loaded.reads) : (loaded.reads.timings[name] ?? []);
  return {
    route: name,
    'quiet: requests': q.length,
    'quiet: p50 ms': p(q, 50),
    'quiet: p99 ms': p(q, 99),
    'stream: requests': l.length,
    'stream: p50 ms': p(l, 50),
    'stream: p99 ms': p(l, 99),
    'stream: max ms': fmt(Math.max(...l), 1),
  };
});
const quietSeconds = (quiet.ended - quiet.started) / 1000;
const errors = errorsOf(quiet.reads) + errorsOf(loaded.reads);
const producedRate = produced.produced / produced.seconds;
const storedRatio = (atEnd.n - atStart.n) / windowSeconds / producedRate;
const figures = {
  stored_ratio: fmt(storedRatio, 3),
  event_to_api_balance_p99_ms: fmt(percentile(lags.api, 99), 0),
  event_to_balance_table_p99_ms: fmt(percentile(lags.tables, 99), 0),
  event_to_stored_p99_ms: fmt(percentile(lags.stored, 99), 0),
  read_p99_ms: p(all(loaded.reads), 99),
  quiet_reads_per_s: fmt(all(quiet.reads).length / quietSeconds, 0),
  quiet_read_p99_ms: p(all(quiet.reads), 99),
  stream_reads_per_s: fmt(all(loaded.reads).length / windowSeconds, 0),
  errors,
  exactly_once: exactlyOnce,
};
const checks: Array<[string, boolean]> = [
  [`stored ÷ produced ≥ ${GOALS.storedRatio}`, figures.stored_ratio >= GOALS.storedRatio],
  [`event → API balance p99 ≤ ${GOALS.apiLagMs} ms`, figures.event_to_api_balance_p99_ms <= GOALS.apiLagMs],
  [`event → balance tables p99 ≤ ${GOALS.tableLagMs} ms`, figures.event_to_balance_table_p99_ms <= GOALS.tableLagMs],
  [`read p99 ≤ ${GOALS.readP99Ms} ms under the stream`, figures.read_p99_ms <= GOALS.readP99Ms],
  ['no errors, every event exactly once', errors === 0 && exactlyOnce && !workerFailure],
  // The quiet goal is stated for 32 readers; a run with fewer readers is not held to it.
  ...(readerCount >= 32
    ? ([[`quiet: ≥ ${GOALS.quietReadsPerS} reads/s, p99 ≤ ${GOALS.quietP99Ms} ms`, figures.quiet_reads_per_s >= GOALS.quietReadsPerS && figures.quiet_read_p99_ms <= GOALS.quietP99Ms]] as Array<[string, boolean]>)
    : []),
];
const met = checks.every(([, ok]) => ok);

report(`${readerCount} readers for ${seconds} s, quiet (peer) and while ${rate} events/s arrive over Kafka (${partitions ?? 4} partitions) — embedded chDB, demo account (${demo.events} events loaded in ${fmt(demoSeconds)} s)`, routeRows);
for (const example of [...quiet.reads.examples, ...loaded.reads.examples]) console.log(`  error: ${example}`);
report('Kafka ingest during the read window', [
  { figure: 'events produced (paced, gzip, acks=all)', value: produced.produced },
  { figure: 'producer rate, events/s', value: fmt(producedRate, 0) },
  { figure: 'stored ÷ produced rate', value: figures.stored_ratio },
  { figure: 'event → stored, p50 / p99 ms (sampled each second)', value: `${p(lags.stored, 50)} / ${p(lags.stored, 99)}` },
  { figure: 'of it, not yet fetched from the broker: events p50 / p99 (ms at the rate)', value: `${p(unfetched, 50)} / ${p(unfetched, 99)} (${fmt((1000 * percentile(unfetched, 50)) / rate, 0)} / ${fmt((1000 * percentile(unfetched, 99)) / rate, 0)})` },
  { figure: 'event → balance tables, p50 / p99 ms', value: `${p(lags.tables, 50)} / ${p(lags.tables, 99)}` },
  { figure: 'event → API balance, p50 / p99 ms', value: `${p(lags.api, 50)} / ${p(lags.api, 99)}` },
  { figure: 'drain after the producer stopped, s', value: fmt(drainSeconds, 2) },
  ...(() => {
    const steps = flushesAtEnd.steps - flushesAtStart.steps;
    const busy = flushesAtEnd.seconds - flushesAtStart.seconds;
    return [
      { figure: 'pipeline steps (lookup + inserts) in the window, busy s', value: `${steps}, ${fmt(busy, 1)} s of ${fmt(windowSeconds, 1)}` },
      { figure: 'per step: ms, blocks, events', value: `${fmt((1000 * busy) / Math.max(1, steps), 0)}, ${fmt((flushesAtEnd.blocks - flushesAtStart.blocks) / Math.max(1, steps), 1)}, ${fmt((flushesAtEnd.messages - flushesAtStart.messages) / Math.max(1, steps), 0)}` },
    ];
  })(),
  { figure: 'rows stored / distinct ids / produced', value: `${exact?.rows} / ${exact?.ids} / ${produced.produced}` },
]);
// Where storage time goes: the named queries by busy time in each phase (concurrent calls overlap).
const busiest = (from: number, to: number) => {
  const byName = new Map<string, number[]>();
  for (const q of queries) {
    if (q.at < from || q.at >= to) continue;
    const times = byName.get(q.name) ?? [];
    times.push(q.ms);
    byName.set(q.name, times);
  }
  return [...byName.entries()].sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0)).slice(0, 8);
};
report(
  'Storage: the busiest named queries in each phase',
  (['quiet', 'stream'] as const).flatMap((name) => {
    const ph = name === 'quiet' ? quiet : loaded;
    return busiest(ph.started, ph.ended).map(([query, ms]) => ({ phase: name, query, calls: ms.length, 'p50 ms': p(ms, 50), 'p99 ms': p(ms, 99), 'busy s': fmt(ms.reduce((a, b) => a + b, 0) / 1000, 1) }));
  }),
);
console.log(`Server event loop delay p99: ${fmt(quiet.loopP99, 1)} ms quiet, ${fmt(loaded.loopP99, 1)} ms under the stream`);
console.log(`Reads: ${figures.quiet_reads_per_s}/s quiet, ${figures.stream_reads_per_s}/s under the stream`);
console.log(`Load average (${cpus().length} cores): ${loadavg().map((l) => l.toFixed(1)).join(', ')} at the end, ${loadAtStart} at the start`);
if (quiet.profile) report('Server JavaScript, quiet: self time by function (top 15)', topFunctions(quiet.profile, 15));
if (loaded.profile) report('Server JavaScript, under the stream: self time by function (top 15)', topFunctions(loaded.profile, 15));
report('Goals', checks.map(([goal, ok]) => ({ goal, met: ok ? 'yes' : 'NO' })));
console.log(JSON.stringify(figures));
if (workerFailure) console.log(`The Kafka worker failed: ${String(workerFailure)}`);
if (args.record !== 'none') {
  recordResults(args.record, { command: `npm run bench -- ${args.record} --seconds ${seconds} --rate ${rate} --readers ${readerCount}${partitions ? ` --partitions ${partitions}` : ''}`, seconds, readers: readerCount, rate, partitions: partitions ?? 4, met, goals: GOALS, ...figures, routes: routeRows });
  console.log(`Figures written to bench/results.json under "${args.record}".`);
}
await store.close();
process.exit(exactlyOnce && !workerFailure ? 0 : 1);
