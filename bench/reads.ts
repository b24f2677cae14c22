/**
 * Where a quiet read's time goes, by route: the process as `npm start` wires it (the load
 * benchmark's quiet phase), 32 readers asking every route in turn, and each route alone; the
 * peers answer the bytes of one balance to the same readers: a bare `node:http` server and a bare
 * express app (express's weak ETag on, as ours). For each: reads a second, latency, and the
 * server process's CPU per read (user and kernel), the figure that decides how many reads one
 * event loop answers, as a ratio to the bare server's measured right after it. Nothing arrives
 * meanwhile, so storage is idle but for confirmations.
 *   npm run bench -- reads                 4 s a measurement
 *   npm run bench -- reads --seconds 10
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import express from 'express';
import { createStore } from '../core/clickhouse.js';
import { createLogger } from '../core/log.js';
import { composeServer } from '../api/compose.js';
import { loadDemo } from '../ingest/demo.js';
import { startMockBroker } from '../test/support/mockBroker.js';
import { child, readersConfig, ROUTES, type ReadResult, type Wallet } from './loadClients.js';
import { benchDataDir, fmt, mergesSettled, percentile, recordResults, report, stealMeter } from './harness.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '4' } }, strict: true });
const seconds = Number(args.seconds);
if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
const READERS = 32;

const broker = await startMockBroker();
const { config, keys } = readersConfig(broker.brokers, READERS, 'reads-reader');
const store = createStore({ dataDir: benchDataDir('reads'), database: 'bench' });
const server = await composeServer({ config, store, log: createLogger('silent') });
await loadDemo(server.pipeline);
const listening = async (s: Server) => {
  if (!s.listening) await new Promise((r) => s.once('listening', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
const http = server.app.listen(0, '127.0.0.1');
const base = await listening(http);
await server.start();
await mergesSettled(store, { database: 'bench', pollMs: 500 });
const auth = { authorization: `Bearer ${keys[0]}` };
const listed = (await (await fetch(`${base}/v1/wallets`, { headers: auth })).json()) as { wallets: Array<{ wallet: Wallet }> };
const wallets = listed.wallets.map((w) => w.wallet);

// The peers answer what one balance read answers, byte for byte.
const sample = wallets[0] as Wallet;
const balance = await fetch(`${base}/v1/wallets/${sample.type}/${encodeURIComponent(sample.id)}/balance`, { headers: auth });
const body = Buffer.from(await balance.arrayBuffer());
const contentType = balance.headers.get('content-type') ?? 'application/json; charset=utf-8';
const bare = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
  res.end(body);
}).listen(0, '127.0.0.1');
const app = express();
app.set('etag', 'weak');
app.get('/balance', (_req, res) => {
  res.type(contentType).send(body);
});
const bareExpress = app.listen(0, '127.0.0.1');
const [bareBase, expressBase] = [await listening(bare), await listening(bareExpress)];

// One untimed pass over every route, so no measurement pays for first-use compilation.
await child<ReadResult>('readers', { base, keys: keys.slice(0, 1), wallets, seconds: 2 });

interface Measured {
  perS: number;
  p50: number;
  p99: number;
  cpuUs: number;
  kernelUs: number;
  errors: number;
}
async function measure(order: { base: string; routes?: number[]; paths?: string[] }): Promise<Measured> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await child<ReadResult>('readers', { keys, wallets, seconds, ...order });
  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const times = Object.values(result.timings).flat();
  const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
  return {
    perS: times.length / wall,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    cpuUs: (used.user + used.system) / times.length,
    kernelUs: used.system / times.length,
    errors,
  };
}

const stolen = stealMeter();
/**
 * This machine's speed moves by a third between minutes, so every measurement of ours is
 * followed at once by the bare node:http server's, and read as a ratio to it.
 */
const ROUNDS = 3;
const bareNode = () => measure({ base: bareBase, paths: ['/balance'] });
const rows: Array<{ read: string; ours: Measured; bare: Measured }> = [];
const mixes: Array<{ ours: Measured; bare: Measured; express: Measured }> = [];
for (let round = 0; round < ROUNDS; round++) {
  const ours = await measure({ base });
  const bare = await bareNode();
  const express = await measure({ base: expressBase, paths: ['/balance'] });
  mixes.push({ ours, bare, express });
}
for (const [i, route] of ROUTES.entries()) rows.push({ read: route.name, ours: await measure({ base, routes: [i] }), bare: await bareNode() });
stolen();

const median = (values: number[]) => percentile(values, 50);
const line = (read: string, ours: Measured, bare: Measured) => ({
  read,
  'reads/s': fmt(ours.perS, 0),
  'p50 ms': fmt(ours.p50, 1),
  'p99 ms': fmt(ours.p99, 1),
  'CPU µs/read': fmt(ours.cpuUs, 0),
  'of it kernel': fmt(ours.kernelUs, 0),
  'bare node µs/read': fmt(bare.cpuUs, 0),
  '÷ bare node': fmt(ours.cpuUs / bare.cpuUs, 1),
  errors: ours.errors,
});
report(
  `${READERS} readers, ${seconds} s each, nothing arriving: the server process's CPU per read (chDB's threads included), each against a bare node:http server's measured right after it`,
  [
    ...mixes.map((m, round) => line(`every route in turn, round ${round + 1}`, m.ours, m.bare)),
    ...mixes.map((m, round) => line(`peer: bare express, a balance's bytes, round ${round + 1}`, m.express, m.bare)),
    ...rows.map((r) => line(r.read, r.ours, r.bare)),
  ],
);
const mixRatio = median(mixes.map((m) => m.ours.cpuUs / m.bare.cpuUs));
const expressRatio = median(mixes.map((m) => m.express.cpuUs / m.bare.cpuUs));
const mixUs = median(mixes.map((m) => m.ours.cpuUs));
console.log(`Every route in turn: ${fmt(mixRatio, 1)}× a bare node:http server's CPU per read, bare express ${fmt(expressRatio, 1)}× (medians of ${ROUNDS} rounds).`);
console.log(`One event loop at ${fmt(mixUs, 0)} µs a read (the median round) answers at most ${fmt(1e6 / mixUs, 0)} reads/s; 3,000 reads/s need ≤ ${fmt(1e6 / 3000, 0)} µs.`);
const errors = [...mixes.flatMap((m) => [m.ours, m.bare, m.express]), ...rows.flatMap((r) => [r.ours, r.bare])].reduce((a, m) => a + m.errors, 0);
recordResults('reads', {
  command: `npm run bench -- reads --seconds ${seconds}`,
  readers: READERS,
  mix_cpu_us_per_read: fmt(mixUs, 0),
  mix_vs_bare_node: fmt(mixRatio, 2),
  bare_express_vs_bare_node: fmt(expressRatio, 2),
  routes_vs_bare_node: Object.fromEntries(rows.map((r) => [r.read, fmt(r.ours.cpuUs / r.bare.cpuUs, 2)])),
  errors,
});
console.log('Figures written to bench/results.json under "reads".');
bare.close();
bareExpress.close();
http.close();
await server.stop();
await broker.stop();
await store.close();
process.exit(errors === 0 ? 0 : 1);
