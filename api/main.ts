import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { loadConfigOrExit, serverConfigSchema } from '../core/config.js';
import { createLogger, flushLogs } from '../core/log.js';
import { createMetrics, observeQueries } from '../core/metrics.js';
import { onShutdown, storeFromConfig } from '../core/runtime.js';
import { DEMO_ACCOUNT, loadDemo } from '../ingest/demo.js';
import { composeServer } from './compose.js';

/**
 * `npm start`: the API and the ingest (HTTP, and Kafka when KAFKA_BROKERS is set) in one process.
 * `--demo` also loads the demo account and, without BALANCES_API_KEYS, prints an admin key for it.
 * The Balances page is built before this process starts (`npm start`'s prestart, `npm run build`);
 * without a build the API serves and `/` says how to make one.
 */
const { values: args } = parseArgs({ options: { demo: { type: 'boolean', default: false }, aggregate: { type: 'boolean', default: false } }, strict: true });
const config = loadConfigOrExit(serverConfigSchema);
const log = createLogger(config.LOG_LEVEL, 'balances');
const metrics = createMetrics();
const store = storeFromConfig(config, observeQueries(log, metrics), log);
const abort = new AbortController();
const apiKeys = [...config.BALANCES_API_KEYS];
let demoKey: string | undefined;
if (args.demo && apiKeys.length === 0) {
  demoKey = `demo-${randomBytes(18).toString('base64url')}`;
  apiKeys.push({ key: demoKey, accountId: DEMO_ACCOUNT, role: 'admin' });
}
const server = await composeServer({ config, store, log, metrics, apiKeys, aggregate: args.aggregate, signal: abort.signal });
if (args.demo) {
  const started = performance.now();
  const report = await loadDemo(server.pipeline);
  log.info({ event: 'demo_loaded', ...report, seconds: (performance.now() - started) / 1000 }, 'demo account loaded');
}

const listener = server.app.listen(config.PORT);
await once(listener, 'listening');
const address = listener.address();
const port = typeof address === 'object' && address ? address.port : config.PORT;
log.info({ event: 'listening', port, storage: store.kind }, `listening on http://localhost:${port}`);

await server.start();

onShutdown(async (signal) => {
  log.info({ event: 'shutdown', signal }, 'stopping');
  listener.close();
  abort.abort();
  await server.stop();
  await store.close();
});

if (demoKey) {
  // The key is what a person starting the demo needs, so it is the last thing printed: after the
  // aggregator's first pass, whose slow queries would otherwise log below it, and after every line
  // logged so far has reached stdout.
  await server.aggregator?.caughtUp();
  await flushLogs(log);
  process.stdout.write(
    `\nDemo account "${DEMO_ACCOUNT}" is ready on http://localhost:${port}\n` +
      `Admin API key for this run: ${demoKey}\n` +
      `  curl -H "Authorization: Bearer ${demoKey}" http://localhost:${port}/v1/wallets\n\n`,
  );
}
