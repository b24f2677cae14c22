/**
 * The load benchmark's clients, each a child process of its own so their work does not sit on
 * the server's event loop (it does share the machine's cores, as clients on one host do):
 * readers looping over the read routes with one API key each, and a producer sending usage
 * events of the demo account to Kafka at a paced rate.
 */
import { fork } from 'node:child_process';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { parseConfig, serverConfigSchema } from '../core/config.js';

export const TOPIC = 'balances.events';
const DAY = 86_400_000;

export interface Wallet {
  type: string;
  id: string;
}
/**
 * The process's configuration, as `npm start` reads it, for `readers` readers and a stream over
 * `brokers`: one API key each (analysts of the demo account), and no rate limit, since readers
 * that never pause would spend their keys' request budget in seconds: the reads, not the rate
 * limit's refusals, are measured.
 */
export function readersConfig(brokers: string[], readers: number, prefix: string) {
  const keys = Array.from({ length: readers }, (_, i) => `${prefix}-${i}`);
  const config = parseConfig(serverConfigSchema, {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC: TOPIC,
    BALANCES_API_KEYS: keys.map((k) => `${k}=demo:analyst`).join(','),
    BALANCES_RATE_LIMIT_PER_MIN: '0',
  });
  return { config, keys };
}

export interface ReadOrder {
  base: string;
  keys: string[];
  wallets: Wallet[];
  seconds: number;
  /** Only these of `ROUTES` (by position), in turn; every route when not given. */
  routes?: number[];
  /** These paths in turn instead of the routes, each timed under its own path. */
  paths?: string[];
}
export interface ReadResult {
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
export const ROUTES: Array<{ name: string; path: (w: Wallet, rand: () => number) => string }> = [
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
  const routes = order.paths
    ? order.paths.map((path) => ({ name: path, path: () => path }))
    : (order.routes ?? ROUTES.map((_, i) => i)).map((i) => ROUTES[i] as (typeof ROUTES)[number]);
  for (const route of routes) {
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
        const route = routes[i % routes.length] as (typeof routes)[number];
        const path = route.path(order.wallets[Math.floor(rand() * order.wallets.length)] as Wallet, rand);
        const started = performance.now();
        let problem: string | undefined;
        try {
          const res = await get(order.base + path, { authorization: `Bearer ${key}`});
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

export interface ProduceOrder {
  brokers: string[];
  rate: number;
  seconds: number;
  wallets: Wallet[];
  /** Sends every event to one of the topic's first `partitions` partitions (by its key); all of them when not given. */
  partitions?: number;
}
export interface ProduceResult {
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

const keyHash = (key: string) => [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);

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
        const key = `demo/${wallet.type}/${wallet.id}`;
        return {
          // Keyed as SPEC section 2 asks: a wallet's events stay in one partition.
          key,
          ...(order.partitions ? { partition: keyHash(key) % order.partitions } : {}),
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

// The child side: one order in, one result out.
const role = process.argv[process.argv.indexOf('--role') + 1];
if (process.argv.includes('--role')) {
  process.once('message', (order: unknown) => {
    const work = role === 'readers' ? runReaders(order as ReadOrder) : runProducer(order as ProduceOrder);
    work.then(
      (result) => process.send?.(result, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}

/** Runs one order in a child process of its own and resolves with its result. */
export function child<T>(role: 'readers' | 'producer', order: ReadOrder | ProduceOrder): Promise<T> {
  const proc = fork(fileURLToPath(import.meta.url), ['--role', role], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  process.once('exit', () => proc.kill('SIGKILL'));
  return new Promise<T>((resolve, reject) => {
    let answer: T | undefined;
    proc.once('message', (m) => (answer = m as T));
    proc.once('exit', (code) => (answer !== undefined ? resolve(answer) : reject(new Error(`the ${role} process exited ${code} without a result`))));
    proc.send(order);
  });
}

