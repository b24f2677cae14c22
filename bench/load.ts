/**
 * Reads under ingest on the embedded default: one process holding chDB, the API, the Kafka
 * ingest worker, the balance aggregator and the alert evaluator, composed as `api/main.ts`
 * composes them, with the demo account loaded. 32 readers (one API key each, the default rate
 * limit) loop over the read routes while 5,000 usage events a second arrive over Kafka; the peer
 * is the same readers for as long with no ingest running, in the same run. Target: no errors,
 * read p99 ≤ 250 ms. Every produced event must be stored exactly once.
 *
 * The readers and the producer run in child processes of their own, so their work does not sit
 * on the server's event loop (it does share the machine's cores, as clients on one host do).
 *   npm run bench -- load                 60 s with ingest, 60 s without
 *   npm run bench -- load --seconds 15    a quicker run
 */
import { fork } from 'node:child_process';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { createRequire } from 'node:module';
import { AsyncLocalStorage } from 'node:async_hooks';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import type { Store } from '../core/clickhouse.js';
import { benchDataDir, fmt, percentile, report, stealMeter, recordResults } from './harness.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '5000' },
    readers: { type: 'string', default: '32' },
    role: { type: 'string', default: 'server' },
    /** Samples the server's JavaScript during the ingest phase and prints where its time went. */
    profile: { type: 'boolean', default: false },
    /**
     * What-if, not the product: the API's reads sent as literal SQL (parameters inlined), at most
     * this many at once, so they run beside each other instead of in chDB's parameter chain.
     */
    'parallel-reads': { type: 'string', default: '0' },
    /** Which sections of bench/results.json this run writes: `load`, `freshness`, or both. */
    record: { type: 'string', default: 'load,freshness' },
  },
  strict: true,
});

const TARGET_P99_MS = 250;
const WARMUP_SECONDS = 3;
const TOPIC = 'balances.events';
const DAY = 86_400_000;
const ROOT = new URL('../', import.meta.url).href;

// ---------------------------------------------------------------------------------------------
// The readers: a child process, told what to read by the server process.

interface Wallet {
  type: string;
  id: string;
}
interface ReadOrder {
  base: string;
  keys: string[];
  wallets: Wallet[];
  seconds: number;
}
interface ReadResult {
  /** Milliseconds until the whole body arrived, per route; failed requests included. */
  timings: Record<string, number[]>;
  errors: Record<string, number>;
  examples: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const enc = encodeURIComponent;

/** A custom range somewhere in the last year: 7 to 90 days long. */
function customRange(rand: () => number): string {
  const now = Date.now();
  const from = now - Math.floor((30 + rand() * 330) * DAY);
  const to = Math.min(now, from + Math.floor((7 + rand() * 83) * DAY));
  return `from=${enc(iso(from))}&to=${enc(iso(to))}`;
}

/** The read routes, each asked equally often, as the Balances page and scripts ask them. */
const ROUTES: Array<{ name: string; path: (w: Wallet, rand: () => number) => string }> = [
  { name: 'GET /v1/wallets', path: () => '/v1/wallets' },
  { name: 'GET …/balance', path: (w) => `/v1/wallets/${w.type}/${enc(w.id)}/balance` },
  { name: 'GET …/balance?at=now-30d', path: (w) => `/v1/wallets/${w.type}/${enc(w.id)}/balance?at=now-30d` },
  { name: 'GET …/events', path: (w) => `/v1/wallets/${w.type}/${enc(w.id)}/events?limit=100` },
  { name: 'GET …/usage-summary', path: (w) => `/v1/wallets/${w.type}/${enc(w.id)}/usage-summary?days=90` },
  { name: 'GET /v1/usage wallet by service', path: (w) => `/v1/usage?wallet_type=${w.type}&wallet_id=${enc(w.id)}&group_by=service&from=now-90d` },
  { name: 'GET /v1/usage wallet by user, custom range', path: (w, r) => `/v1/usage?wallet_type=${w.type}&wallet_id=${enc(w.id)}&group_by=user&${customRange(r)}` },
  { name: 'GET /v1/usage wallet by day, custom range', path: (w, r) => `/v1/usage?wallet_type=${w.type}&wallet_id=${enc(w.id)}&group_by=day&tz=Europe%2FBerlin&${customRange(r)}` },
  { name: 'GET /v1/usage account by service, custom range', path: (_w, r) => `/v1/usage?group_by=service&${customRange(r)}` },
  { name: 'GET /v1/usage account by user, 365 days', path: () => '/v1/usage?group_by=user&from=now-365d&limit=20' },
  { name: 'GET /v1/usage account by day, custom range', path: (_w, r) => `/v1/usage?group_by=day&${customRange(r)}` },
  { name: 'GET /v1/expiring', path: () => '/v1/expiring?within_days=90' },
  { name: 'GET /v1/alerts', path: () => '/v1/alerts' },
];

async function runReaders(order: ReadOrder): Promise<ReadResult> {
  const result: ReadResult = { timings: {}, errors: {}, examples: [] };
  // Node's own HTTP client over kept-alive connections, one per reader: a light client, so the
  // readers take as little of the machine's CPU from the server as they can.
  const agent = new HttpAgent({ keepAlive: true, maxSockets: order.keys.length });
  const get = (url: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpGet(url, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
  for (const route of ROUTES) {
    result.timings[route.name] = [];
    result.errors[route.name] = 0;
  }
  const deadline = performance.now() + order.seconds * 1000;
  await Promise.all(
    order.keys.map(async (key, reader) => {
      let seed = 7919 * (reader + 1);
      const rand = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed / 2_147_483_648;
      };
      // Each reader starts at another route, so every route is asked throughout the run.
      for (let i = reader; performance.now() < deadline; i++) {
        const route = ROUTES[i % ROUTES.length] as (typeof ROUTES)[number];
        const path = route.path(order.wallets[Math.floor(rand() * order.wallets.length)] as Wallet, rand);
        const started = performance.now();
        let problem: string | undefined;
        try {
          const res = await get(order.base + path, { authorization: `Bearer ${key}`, 'x-bench-route': String(i % ROUTES.length) });
          if (!((res.status >= 200 && res.status < 300) || res.status === 304)) problem = `${res.status} ${path}: ${res.body.toString('utf8').slice(0, 200)}`;
        } catch (err) {
          problem = `${path}: ${(err as Error).message}`;
        }
        (result.timings[route.name] as number[]).push(performance.now() - started);
        if (problem) {
          result.errors[route.name] = (result.errors[route.name] ?? 0) + 1;
          if (result.examples.length < 5) result.examples.push(problem);
        }
      }
    }),
  );
  agent.destroy();
  return result;
}

// ---------------------------------------------------------------------------------------------
// The producer: a child process producing usage events of the demo account at a paced rate.

interface ProduceOrder {
  brokers: string[];
  rate: number;
  seconds: number;
  wallets: Wallet[];
}
interface ProduceResult {
  produced: number;
  seconds: number;
  failedSends: number;
}

const PRODUCTS: Array<[string, string[]]> = [
  ['compiler', ['compiler-cloud', 'compiler-local']],
  ['debugger', ['debugger']],
  ['simulator', ['simulator-gpu', 'simulator-cpu']],
  ['ai-assistant', ['ai-chat', 'ai-completion']],
  ['test-runner', ['test-runner']],
  ['build-cache', ['build-cache']],
];

async function runProducer(order: ProduceOrder): Promise<ProduceResult> {
  const kafka = new Kafka({ brokers: order.brokers, clientId: 'bench-load', logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  let seed = 42;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  let produced = 0;
  let failedSends = 0;
  const started = performance.now();
  const end = started + order.seconds * 1000;
  // Paced by the clock: each tick sends what the schedule says is due, so a slow send is
  // caught up by the next one instead of lowering the rate.
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - started) / 1000) * order.rate) - produced;
    if (due > 0) {
      const occurredAt = iso(Date.now());
      const messages = Array.from({ length: Math.min(due, order.rate) }, (_, k) => {
        const wallet = order.wallets[Math.floor(rand() * order.wallets.length)] as Wallet;
        const [product, services] = PRODUCTS[Math.floor(rand() * PRODUCTS.length)] as [string, string[]];
        return {
          value: JSON.stringify({
            event_id: `load-${(produced + k).toString(36).padStart(8, '0')}`,
            type: 'usage',
            account_id: 'demo',
            occurred_at: occurredAt,
            wallet,
            amount: (0.01 + rand() * 2).toFixed(2),
            user_id: `user-${String(1 + Math.floor(rand() * 200)).padStart(3, '0')}`,
            product,
            service: services[Math.floor(rand() * services.length)],
          }),
        };
      });
      try {
        await producer.send({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages });
        produced += messages.length;
      } catch {
        // The same ids are sent again on the next tick: a failed send is not counted as produced.
        failedSends++;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return { produced, seconds, failedSends };
}

// ---------------------------------------------------------------------------------------------
// The child side: one order in, one result out.

if (args.role !== 'server') {
  process.once('message', (order: unknown) => {
    const work = args.role === 'readers' ? runReaders(order as ReadOrder) : runProducer(order as ProduceOrder);
    work.then(
      (result) => process.send?.(result, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
} else {
  await server();
}

function child<T>(role: 'readers' | 'producer', order: ReadOrder | ProduceOrder): Promise<T> {
  const proc = fork(fileURLToPath(import.meta.url), ['--role', role], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  process.once('exit', () => proc.kill('SIGKILL'));
  return new Promise<T>((resolve, reject) => {
    let answer: T | undefined;
    proc.once('message', (m) => (answer = m as T));
    proc.once('exit', (code) => (answer !== undefined ? resolve(answer) : reject(new Error(`the ${role} process exited ${code} without a result`))));
    proc.send(order);
  });
}

// ---------------------------------------------------------------------------------------------
// The server side: the embedded default, the two phases, the figures.

async function server(): Promise<void> {
  const seconds = Number(args.seconds);
  const rate = Number(args.rate);
  const readerCount = Number(args.readers);
  if (!(seconds > 0 && rate > 0 && readerCount > 0)) throw new Error('--seconds, --rate and --readers must be positive numbers');

  const { createStore } = await import('../core/clickhouse.js');
  const { createLogger } = await import('../core/log.js');
  const { createMetrics } = await import('../core/metrics.js');
  const { parseConfig, serverConfigSchema } = await import('../core/config.js');
  const { reportBackgroundFailures } = await import('../core/background.js');
  const { migrate } = await import('../storage/migrate.js');
  const { pairVoidedUsage } = await import('../storage/voids.js');
  const { BalanceService, freshnessOf } = await import('../readmodels/balances.js');
  const { BalanceAggregator } = await import('../aggregator/process.js');
  const { AlertEvaluator } = await import('../alerts/evaluator.js');
  const { createIngestPipeline } = await import('../ingest/pipeline.js');
  const { kafkaWorkerFromConfig } = await import('../ingest/service.js');
  const { DEMO_ACCOUNT, loadDemo } = await import('../ingest/demo.js');
  const { createApp } = await import('../api/app.js');
  const { startMockBroker } = await import('../test/support/mockBroker.js');

  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(', ');
  const broker = await startMockBroker();

  const keys = Array.from({ length: readerCount }, (_, i) => `load-reader-${i}`);
  // The server's configuration with its defaults (rate limit, batch size, flush interval...).
  const config = parseConfig(serverConfigSchema, {
    KAFKA_BROKERS: broker.brokers.join(','),
    KAFKA_TOPIC: TOPIC,
    BALANCES_API_KEYS: keys.map((k) => `${k}=demo:analyst`).join(','),
  });
  const log = createLogger('silent');
  // chDB's own executions timed too: parameterised queries wait in one process-wide chain
  // before they run (chdb/index.js), literal SQL and inserts do not. The difference between a
  // storage call and its execution is time spent queued.
  type Execution = { bound: boolean; ms: number; at: number };
  const executions: Execution[] = [];
  const require = createRequire(import.meta.url);
  const native = (require(join(dirname(require.resolve('chdb')), 'dist', 'loader.js')) as { loadNative(): Record<string, unknown> }).loadNative();
  const execute = native.QueryAsyncConnection as (...a: unknown[]) => Promise<unknown>;
  native.QueryAsyncConnection = (...a: unknown[]) => {
    const started = performance.now();
    const done = () => executions.push({ bound: a[3] !== undefined, ms: performance.now() - started, at: started });
    const running = execute(...a);
    running.then(done, done);
    return running;
  };
  const store = createStore({ dataDir: benchDataDir('load'), database: 'bench' });

  // Every storage call timed by who made it, to see where read time goes under ingest.
  type Call = { label: string; ms: number; at: number; route?: string };
  // Which read route a storage call was made for, from the readers' x-bench-route header.
  const routeOf = new AsyncLocalStorage<string>();
  const calls: Call[] = [];
  /** Events per insert into the raw table, and when: the ingest's batch sizes. */
  const batches: Array<{ at: number; events: number; ms: number }> = [];
  const { lanesOf } = await import('../core/lanes.js');
  const lanes = lanesOf(store);
  const timed = (label: string, base = lanes.reads): Store => {
    const wrap =
      <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R> => {
        const started = performance.now();
        try {
          return await fn(...a);
        } finally {
          calls.push({ label, ms: performance.now() - started, at: started, route: routeOf.getStore() });
        }
      };
    const insert = wrap(base.insertJsonEachRow);
    return {
      ...base,
      insertJsonEachRow: async (table, ndjson, options) => {
        const started = performance.now();
        await insert(table, ndjson, options);
        if (label === 'ingest' && table === 'events_v1') batches.push({ at: started, events: ndjson.split('\n').filter(Boolean).length, ms: performance.now() - started });
      },
      queryRows: wrap(base.queryRows) as Store['queryRows'],
      queryTsv: wrap(base.queryTsv),
      queryJsonLines: wrap(base.queryJsonLines),
      command: wrap(base.command),
    };
  };

  await migrate(store);
  await pairVoidedUsage(store, 'all');
  const metrics = createMetrics();
  const parallelReads = Number(args['parallel-reads']);
  const readStore = parallelReads > 0 ? literalReads(timed('API reads'), parallelReads) : timed('API reads');
  const balances = new BalanceService(readStore, Date.now, { onBackgroundFailure: reportBackgroundFailures(log, metrics) });
  const { UsageIndex } = await import('../readmodels/usageIndex.js');
  const usageIndex = new UsageIndex(readStore, { maxEntries: config.BALANCES_USAGE_INDEX_ENTRIES, onBackgroundFailure: reportBackgroundFailures(log, metrics) });
  const aggregator = new BalanceAggregator({ store: timed('aggregator'), log, usage: usageIndex });
  const ingestStore = timed('ingest', lanes.ingest);
  const pipeline = createIngestPipeline({
    store: ingestStore,
    metrics,
    log,
    onStored: (accounts, source) => {
      balances.invalidate(accounts, freshnessOf(source));
      aggregator.notify(accounts, freshnessOf(source));
    },
    afterStore: (accounts, source) => (freshnessOf(source) === 'now' ? pairVoidedUsage(ingestStore, accounts) : Promise.resolve()),
  });
  const demoStarted = performance.now();
  const demo = await loadDemo(pipeline);
  const demoSeconds = (performance.now() - demoStarted) / 1000;
  const app = createApp({
    store: readStore,
    pipeline,
    metrics,
    log,
    apiKeys: config.BALANCES_API_KEYS,
    bodyLimitBytes: config.BALANCES_BODY_LIMIT_BYTES,
    balances,
    usageIndex,
    corsOrigins: config.BALANCES_CORS_ORIGINS,
    rateLimit: { perMinute: config.BALANCES_RATE_LIMIT_PER_MIN, burst: config.BALANCES_RATE_LIMIT_BURST ?? config.BALANCES_RATE_LIMIT_PER_MIN },
    ingestBehind: () => worker?.behind() ?? false,
  });
  const outer = express();
  outer.use((req, _res, next) => routeOf.run(ROUTES[Number(req.get('x-bench-route'))]?.name ?? '', next));
  outer.use(app);
  const http = outer.listen(0, '127.0.0.1');
  await new Promise((r) => http.once('listening', r));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  // Wired as api/main.ts wires it: refusals and block ranges go to storage through ingest's lane.
  const worker = kafkaWorkerFromConfig(config, pipeline, metrics, log, ingestStore);
  if (!worker) throw new Error('no Kafka worker configured');
  await worker.start();
  let workerFailure: unknown;
  worker.done.catch((err: unknown) => (workerFailure = err));
  const alerts = new AlertEvaluator({ store: timed('alerts'), balances, log, webhookUrl: config.ALERT_WEBHOOK_URL, intervalMs: config.ALERT_EVALUATION_INTERVAL_MS });
  alerts.start();
  aggregator.start();

  // The demo load's merges settle first, so the quiet phase is quiet.
  for (let waited = 0; waited < 60_000; waited += 500) {
    const [row] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = 'bench'`);
    if (Number(row?.n ?? 0) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const listed = (await (await fetch(`${base}/v1/wallets`, { headers: { authorization: `Bearer ${keys[0]}` } })).json()) as { wallets: Array<{ wallet: Wallet }> };
  const wallets = listed.wallets.map((w) => w.wallet);
  // One untimed pass over every route, so neither phase pays for first-use compilation.
  await child<ReadResult>('readers', { base, keys: keys.slice(0, 1), wallets, seconds: 2 });

  const kafkaCount = async () => {
    // Literal SQL: not queued with the parameterised reads it observes.
    const [row] = await store.queryRows<{ n: string; latest: string }>(
      `SELECT count() AS n, toUnixTimestamp64Milli(max(occurred_at)) AS latest FROM bench.events_v1 WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka'`,
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
  const startProfile = async () => profiler && (await profiler.post('Profiler.start'));
  const stopProfile = async () => (profiler ? ((await profiler.post('Profiler.stop')) as { profile: CpuProfile }).profile : undefined);

  // Phase 1, the peer: the same readers, nothing arriving.
  await startProfile();
  loopDelay.enable();
  const quietStarted = performance.now();
  const quiet = await child<ReadResult>('readers', { base, keys, wallets, seconds });
  const quietEnded = performance.now();
  loopDelay.disable();
  const quietProfile = await stopProfile();
  const quietLoop = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  loopDelay.reset();

  // Phase 2: the producer starts, and after its warm-up the readers read as long as before.
  const producing = child<ProduceResult>('producer', { brokers: broker.brokers, rate, seconds: seconds + WARMUP_SECONDS, wallets });
  await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
  const lags: number[] = [];
  /**
   * How old the newest event a balance reflects is, at a moment a user looks: the newest
   * produced event stored before the instant the balance was computed at, taken once a second
   * from the balance tables (the aggregator's latest snapshot) and from the API (`/v1/wallets`).
   * An insert stamped before that instant but visible only after it counts as reflected, so the
   * figures can be low by an insert's duration.
   */
  const tableLags: number[] = [];
  const apiLags: number[] = [];
  const newestStoredBefore = async (instant: string) => {
    const [row] = await store.queryRows<{ latest: string }>(
      `SELECT toUnixTimestamp64Milli(max(occurred_at)) AS latest FROM bench.events_v1
       WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka' AND ingested_at <= ${instant}`,
    );
    return Number(row?.latest ?? 0);
  };
  const atStart = await kafkaCount();
  const sampler = setInterval(() => {
    const now = Date.now();
    void kafkaCount().then(({ latest }) => {
      if (latest > 0) lags.push(now - latest);
    });
    void newestStoredBefore(`(SELECT max(computed_at) FROM bench.wallet_balance_versions_v1 WHERE account_id = '${DEMO_ACCOUNT}')`).then((latest) => {
      if (latest > 0) tableLags.push(now - latest);
    });
    void fetch(`${base}/v1/wallets`, { headers: { authorization: `Bearer ${keys[0]}` } })
      .then(async (res) => ((await res.json()) as { at: string }).at)
      .then((at) => newestStoredBefore(`toDateTime64('${at.replace('T', ' ').replace('Z', '')}', 3, 'UTC')`))
      .then((latest) => {
        if (latest > 0) apiLags.push(now - latest);
      });
  }, 1000);
  await startProfile();
  loopDelay.enable();
  const loadStarted = performance.now();
  const loaded = await child<ReadResult>('readers', { base, keys, wallets, seconds });
  const loadEnded = performance.now();
  loopDelay.disable();
  const cpuProfile = await stopProfile();
  clearInterval(sampler);
  const atEnd = await kafkaCount();
  const loadLoop = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  const produced = await producing;
  const windowSeconds = (loadEnded - loadStarted) / 1000;

  // Every produced event stored, once.
  const drainStarted = performance.now();
  let stored = atEnd.n;
  while (stored < produced.produced && performance.now() - drainStarted < 180_000 && workerFailure === undefined) {
    await new Promise((r) => setTimeout(r, 250));
    stored = (await kafkaCount()).n;
  }
  const drainSeconds = (performance.now() - drainStarted) / 1000;
  await worker.stop().catch((err: unknown) => (workerFailure ??= err));
  stolen();
  const [exact] = await store.queryRows<{ rows: string; ids: string }>(
    `SELECT count() AS rows, uniqExact(event_id) AS ids FROM bench.events_v1 WHERE account_id = '${DEMO_ACCOUNT}' AND source = 'kafka'`,
  );
  const [rejected] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM bench.rejected_events_v1`);
  const rows = Number(exact?.rows ?? 0);
  const ids = Number(exact?.ids ?? 0);
  const exactlyOnce = rows === produced.produced && ids === produced.produced;

  http.close();
  await alerts.stop();
  await aggregator.stop();
  await broker.stop();

  // ------------------------------------------------------------------ figures
  const all = (r: ReadResult) => Object.values(r.timings).flat();
  const errorsOf = (r: ReadResult) => Object.values(r.errors).reduce((a, b) => a + b, 0);
  const stats = (samples: number[]) => ({
    p50: fmt(percentile(samples, 50), 1),
    p95: fmt(percentile(samples, 95), 1),
    p99: fmt(percentile(samples, 99), 1),
    max: fmt(Math.max(...samples), 1),
  });
  /** Storage calls a request of the route made, and the time they took, queue included. */
  const storagePerRequest = (name: string, requests: number, from: number, to: number) => {
    const mine = calls.filter((c) => c.label === 'API reads' && c.at >= from && c.at < to && (name === 'all routes' ? c.route : c.route === name));
    return [fmt(mine.length / Math.max(1, requests), 1), fmt(mine.reduce((a, c) => a + c.ms, 0) / Math.max(1, requests), 0)] as const;
  };
  const routeRows = [...ROUTES.map((r) => r.name), 'all routes'].map((name) => {
    const q = name === 'all routes' ? all(quiet) : (quiet.timings[name] ?? []);
    const l = name === 'all routes' ? all(loaded) : (loaded.timings[name] ?? []);
    const qe = name === 'all routes' ? errorsOf(quiet) : (quiet.errors[name] ?? 0);
    const le = name === 'all routes' ? errorsOf(loaded) : (loaded.errors[name] ?? 0);
    const qs = stats(q);
    const ls = stats(l);
    return {
      route: name,
      'quiet: requests': q.length,
      'quiet: errors': qe,
      'quiet: p50 ms': qs.p50,
      'quiet: p99 ms': qs.p99,
      'ingest: requests': l.length,
      'ingest: errors': le,
      'ingest: p50 ms': ls.p50,
      'ingest: p95 ms': ls.p95,
      'ingest: p99 ms': ls.p99,
      'ingest: max ms': ls.max,
      'p99 ingest ÷ quiet': fmt(ls.p99 / qs.p99, 2),
    };
  });
  const overall = routeRows[routeRows.length - 1] as (typeof routeRows)[number];
  const quietSeconds = (quietEnded - quietStarted) / 1000;

  report(
    `${readerCount} readers over the read routes for ${seconds} s, quiet (peer) and while ${rate} events/s arrive over Kafka — embedded chDB, demo account (${demo.events} events loaded in ${fmt(demoSeconds)} s)`,
    routeRows,
  );
  console.log(
    `Throughput: ${fmt(all(quiet).length / quietSeconds, 0)} reads/s quiet, ${fmt(all(loaded).length / windowSeconds, 0)} reads/s under ingest (${fmt(all(loaded).length / windowSeconds / (all(quiet).length / quietSeconds), 2)}×)`,
  );
  for (const example of [...quiet.examples, ...loaded.examples]) console.log(`  error: ${example}`);

  const storedRate = (atEnd.n - atStart.n) / windowSeconds;
  const ingestRows = [
    { figure: 'events produced (paced, gzip, acks=all)', value: produced.produced },
    { figure: 'producer rate, events/s (target)', value: fmt(produced.produced / produced.seconds, 0) },
    { figure: 'stored during the read window, events/s', value: fmt(storedRate, 0) },
    { figure: 'stored ÷ produced rate', value: fmt(storedRate / (produced.produced / produced.seconds), 3) },
    { figure: 'event → stored lag, p50 ms (sampled each second)', value: fmt(percentile(lags, 50), 0) },
    { figure: 'event → stored lag, p99 ms', value: fmt(percentile(lags, 99), 0) },
    { figure: 'event → stored lag, max ms', value: fmt(Math.max(...lags), 0) },
    { figure: 'event → balance tables, p50 / p99 / max ms (sampled each second)', value: `${fmt(percentile(tableLags, 50), 0)} / ${fmt(percentile(tableLags, 99), 0)} / ${fmt(Math.max(...tableLags), 0)}` },
    { figure: 'event → API balance, p50 / p99 / max ms (sampled each second)', value: `${fmt(percentile(apiLags, 50), 0)} / ${fmt(percentile(apiLags, 99), 0)} / ${fmt(Math.max(...apiLags), 0)}` },
    { figure: 'drain after the producer stopped, s', value: fmt(drainSeconds, 2) },
    ...(() => {
      const window = batches.filter((b) => b.at >= loadStarted && b.at < loadEnded);
      const sizes = window.map((b) => b.events);
      return [
        { figure: 'inserts into the raw table during the window', value: window.length },
        { figure: 'events per insert, p50 / max', value: `${fmt(percentile(sizes, 50), 0)} / ${sizes.length ? Math.max(...sizes) : 0}` },
        { figure: 'insert time, p50 / p99 ms', value: `${fmt(percentile(window.map((b) => b.ms), 50), 0)} / ${fmt(percentile(window.map((b) => b.ms), 99), 0)}` },
      ];
    })(),
    { figure: 'rows stored / distinct event ids', value: `${rows} / ${ids}` },
    { figure: 'rejected events', value: Number(rejected?.n ?? 0) },
    { figure: 'every produced event stored exactly once', value: exactlyOnce ? 'yes' : 'NO' },
  ];
  report('Kafka ingest during the read window', ingestRows);

  // Where the time goes: storage calls by caller, in each phase, and the server's event loop.
  const callsIn = (label: string, from: number, to: number) => calls.filter((c) => c.label === label && c.at >= from && c.at < to).map((c) => c.ms);
  const profileRows: Array<Record<string, string | number>> = [];
  for (const label of ['API reads', 'ingest', 'aggregator', 'alerts']) {
    for (const [phase, from, to] of [
      ['quiet', quietStarted, quietEnded],
      ['ingest', loadStarted, loadEnded],
    ] as const) {
      const ms = callsIn(label, from, to);
      if (ms.length === 0) continue;
      const s = stats(ms);
      profileRows.push({ 'storage calls by': label, phase, calls: ms.length, 'p50 ms': s.p50, 'p99 ms': s.p99, 'max ms': s.max, 'busy s (sum)': fmt(ms.reduce((a, b) => a + b, 0) / 1000, 1) });
    }
  }
  for (const [kind, bound] of [
    ['chDB executing parameterised SQL (one at a time)', true],
    ['chDB executing literal SQL', false],
  ] as const) {
    for (const [phase, from, to] of [
      ['quiet', quietStarted, quietEnded],
      ['ingest', loadStarted, loadEnded],
    ] as const) {
      const ms = executions.filter((e) => e.bound === bound && e.at >= from && e.at < to).map((e) => e.ms);
      if (ms.length === 0) continue;
      const s = stats(ms);
      const busy = ms.reduce((a, b) => a + b, 0) / 1000;
      profileRows.push({ 'storage calls by': kind, phase, calls: ms.length, 'p50 ms': s.p50, 'p99 ms': s.p99, 'max ms': s.max, 'busy s (sum)': `${fmt(busy, 1)} (${fmt((100 * busy * 1000) / (to - from), 0)}% of the phase)` });
    }
  }
  profileRows.push({ 'storage calls by': 'server event loop delay', phase: 'quiet', calls: '', 'p50 ms': '', 'p99 ms': fmt(quietLoop.p99, 1), 'max ms': fmt(quietLoop.max, 1), 'busy s (sum)': '' });
  profileRows.push({ 'storage calls by': 'server event loop delay', phase: 'ingest', calls: '', 'p50 ms': '', 'p99 ms': fmt(loadLoop.p99, 1), 'max ms': fmt(loadLoop.max, 1), 'busy s (sum)': '' });
  report(
    'Storage calls per read request, and their time per request (queue included), by route',
    [...ROUTES.map((r) => r.name), 'all routes'].map((name) => {
      const count = (r: ReadResult) => (name === 'all routes' ? all(r).length : (r.timings[name]?.length ?? 0));
      const [qc, qms] = storagePerRequest(name, count(quiet), quietStarted, quietEnded);
      const [lc, lms] = storagePerRequest(name, count(loaded), loadStarted, loadEnded);
      return { route: name, 'quiet: calls/request': qc, 'quiet: storage ms/request': qms, 'ingest: calls/request': lc, 'ingest: storage ms/request': lms };
    }),
  );
  report('Where the time goes: storage calls by caller (chDB runs parameterised queries one at a time per process)', profileRows);

  // Reads and inserts on one chDB connection: do they run at the same time, or one after the other?
  const during = (e: Execution) => e.at >= loadStarted && e.at < loadEnded;
  const boundRuns = executions.filter((e) => e.bound && during(e));
  const literalRuns = executions.filter((e) => !e.bound && during(e));
  let overlapMs = 0;
  for (const l of literalRuns) {
    for (const b of boundRuns) overlapMs += Math.max(0, Math.min(l.at + l.ms, b.at + b.ms) - Math.max(l.at, b.at));
  }
  const literalBusyMs = literalRuns.reduce((a, e) => a + e.ms, 0);
  console.log(
    `While literal SQL (inserts, aggregator) ran under ingest (${fmt(literalBusyMs / 1000, 1)} s), parameterised reads ran alongside for ${fmt(overlapMs / 1000, 1)} s (${fmt((100 * overlapMs) / Math.max(1, literalBusyMs), 0)}%).`,
  );
  console.log(`Load average of the machine (${cpus().length} cores) at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (at the start: ${loadAtStart})`);
  if (quietProfile) report('Server JavaScript during the quiet phase: self time by function (top 15)', topFunctions(quietProfile, 15));
  if (cpuProfile) report('Server JavaScript during the ingest phase: self time by function (top 15)', topFunctions(cpuProfile, 15));

  const p99 = overall['ingest: p99 ms'];
  const errors = overall['ingest: errors'] + overall['quiet: errors'];
  const pass = errors === 0 && p99 <= TARGET_P99_MS && exactlyOnce;
  console.log(`\nTarget: no errors, read p99 ≤ ${TARGET_P99_MS} ms under ${rate} events/s, every event once — ${pass ? 'met' : 'NOT met'} (p99 ${p99} ms, ${errors} errors, exactly once: ${exactlyOnce ? 'yes' : 'no'})`);
  if (workerFailure) console.log(`The Kafka worker stopped on an error: ${String(workerFailure)}`);

  const sections = new Set(args.record.split(','));
  if (sections.has('load')) recordResults('load', {
    command: `npm run bench -- load --seconds ${seconds}`,
    seconds,
    readers: readerCount,
    targetRate: rate,
    targetP99Ms: TARGET_P99_MS,
    met: pass,
    routes: routeRows,
    ingest: Object.fromEntries(ingestRows.map((r) => [r.figure, r.value])),
    profile: profileRows,
    loadAverage: { start: loadAtStart, end: loadavg().map((l) => l.toFixed(1)).join(', ') },
  });
  if (sections.has('freshness')) recordResults('freshness', {
    command: `npm run bench -- load --seconds ${seconds} --rate ${rate} --readers ${readerCount}`,
    rate,
    readers: readerCount,
    event_to_balance_p99_ms: Number(fmt(Math.max(percentile(tableLags, 99), percentile(apiLags, 99)), 0)),
    event_to_balance_table_p99_ms: Number(fmt(percentile(tableLags, 99), 0)),
    event_to_api_balance_p99_ms: Number(fmt(percentile(apiLags, 99), 0)),
    event_to_stored_p99_ms: Number(fmt(percentile(lags, 99), 0)),
  });
  console.log(`Figures written to bench/results.json under ${[...sections].map((x) => `"${x}"`).join(' and ')}.`);
  await store.close();
  if (workerFailure) console.log(`The Kafka worker failed: ${String(workerFailure)}${(workerFailure as { cause?: unknown }).cause ? ` (cause: ${String((workerFailure as { cause?: unknown }).cause)})` : ''}`);
  process.exit(exactlyOnce && !workerFailure ? 0 : 1);
}

interface CpuProfile {
  nodes: Array<{ id: number; hitCount?: number; callFrame: { functionName: string; url: string } }>;
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** Self time per function of a V8 CPU profile, largest first. */
function topFunctions(profile: CpuProfile, count: number): Array<Record<string, string | number>> {
  const totalHits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / Math.max(1, totalHits);
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url } = node.callFrame;
    const where = url ? url.replace(ROOT, '').replace(/^file:\/\//, '') : '';
    const name = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, hits]) => ({ function: fn, 'self ms': fmt(hits * msPerHit, 0), share: `${fmt((100 * hits) / Math.max(1, totalHits), 1)}%` }));
}

/** A ClickHouse literal of a query parameter's value, cast to its declared type. */
function literal(value: unknown, type: string): string {
  const render = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(render).join(', ')}]`;
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (!/^-?\d+(\.\d+)?$/.test(String(v))) throw new Error(`not a plain number: ${String(v)}`);
      return String(v);
    }
    if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    throw new Error(`unexpected parameter ${typeof v}`);
  };
  return `CAST(${render(value)} AS ${type})`;
}

/**
 * The what-if of `--parallel-reads N`: reads with their parameters inlined as literals, which chDB
 * runs concurrently (it chains only parameterised queries), at most `limit` at a time.
 */
function literalReads(store: Store, limit: number): Store {
  let running = 0;
  const waiting: Array<() => void> = [];
  const slot = async () => {
    if (running < limit) running++;
    // A released slot passes straight to the next waiter.
    else await new Promise<void>((r) => waiting.push(r));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  const inline = (query: string, params?: Record<string, unknown>) =>
    params ? query.replace(/\{(\w+):([^{}]+)\}/g, (m, name: string, type: string) => (name in params ? literal(params[name], type) : m)) : query;
  const wrap =
    <R, O>(fn: (query: string, params?: Record<string, unknown>, options?: O) => Promise<R>) =>
    async (query: string, params?: Record<string, unknown>, options?: O): Promise<R> => {
      await slot();
      try {
        return await fn(inline(query, params), undefined, options);
      } finally {
        release();
      }
    };
  return {
    ...store,
    queryRows: wrap(store.queryRows) as Store['queryRows'],
    queryTsv: wrap(store.queryTsv),
    queryJsonLines: wrap(store.queryJsonLines),
  };
}
