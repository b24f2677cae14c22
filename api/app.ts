import { createServer, type Server } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import type { ApiKey } from '../core/config.js';
import type { Store } from '../core/clickhouse.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { IngestPipeline } from '../ingest/pipeline.js';
import { createAuthenticator } from './auth.js';
import { createCors } from './cors.js';
import { createRateLimiter, NO_RATE_LIMIT, type RateLimit } from './rateLimit.js';
import { answerClientErrors, errorHandler, noRoute } from './errors.js';
import { eventsRouter } from './routes/events.js';
import { balancesRouter } from './routes/balances.js';
import { usageRouter } from './routes/usage.js';
import { forecastsRouter } from './routes/forecasts.js';
import { ResponseCache } from './responseCache.js';
import { openApiDocument } from './openapi.js';
import { queries } from './schemas.js';
import { validateQuery } from './validate.js';
import { securityHeaders } from './securityHeaders.js';
import { staticPage } from './static.js';
import type { BalanceService } from '../readmodels/balances.js';
import { UsageIndex } from '../readmodels/usageIndex.js';
import { ForecastService } from '../readmodels/forecasts.js';
import { DEFAULT_RUNS_OUT_DAYS } from '../readmodels/alerts.js';
import { readGate } from './readGate.js';
import { ApiRequest, ApiResponse, readPath } from './readPath.js';
import { isRetriable } from '../core/errors.js';

export interface AppOptions {
  store: Store;
  pipeline: IngestPipeline;
  metrics: Metrics;
  log: Logger;
  apiKeys: ApiKey[];
  bodyLimitBytes: number;
  /** Share it with the pipeline's `onStored`, so reads see this process's writes at once. */
  balances: BalanceService;
  /** Browser origins allowed to call the API; none by default. */
  corsOrigins?: string[];
  /** Per-key request limit; none when not given (the server process passes its configured one). */
  rateLimit?: RateLimit;
  /** How long a POST /v1/events waits for storage before answering 503. */
  ingestDeadlineMs?: number;
  /**
   * Whether this process's Kafka ingest is behind: reads are then paced so it catches up
   * first (`readGate.ts`). Not paced when not given.
   */
  ingestBehind?: () => boolean;
  /** Usage held in memory for the usage routes; one over `store` with the default budget when not given. */
  usageIndex?: UsageIndex;
  /** Forecasts per snapshot, shared with the alert evaluator; one over the balances and usage index when not given. */
  forecasts?: ForecastService;
  /** `ALERT_RUNS_OUT_DAYS`: `/v1/alerts` lists `runs_out` for a wallet that runs out within this many days. */
  alertRunsOutDays?: number;
}

/** The metrics' route label of a request no route answered. */
const UNMATCHED_ROUTE = 'unmatched';

/** A readiness probe answers within this, even when storage stalls. */
const READY_TIMEOUT_MS = 2_000;

export function createApp(options: AppOptions): Express {
  const { store, metrics, log } = options;
  const app = express();
  app.disable('x-powered-by');
  // Weak ETags on every body: a client sending If-None-Match gets 304 when nothing changed.
  app.set('etag', 'weak');
  const observe: RequestHandler = (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      // The route's pattern, never the path asked for: anyone, without a key, could otherwise add
      // a series per made-up path. Answers given before or outside a route (refused keys, unknown
      // paths, preflights, static files) share one label, told apart by status.
      const route = res.locals.unmatched !== true && typeof req.route?.path === 'string' ? (req.route.path as string) : UNMATCHED_ROUTE;
      metrics.httpRequests.observe(
        { method: req.method, route, status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    next();
  };
  // Every request, in this order: the read path (readPath.ts) runs the same.
  const before = [securityHeaders(), observe, createCors(options.corsOrigins ?? [])];
  for (const handler of before) app.use(handler);

  // Probes take no parameters: an unknown one is a 400, as on every route.
  const noParameters = validateQuery(queries.none);
  app.get('/healthz', noParameters, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', noParameters, async (_req, res) => {
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), READY_TIMEOUT_MS).unref());
    const probe = store.ping().catch((err: unknown) => {
      log.warn({ event: 'readyz_storage_unreachable', err, retriable: isRetriable(err) }, 'storage did not answer the readiness probe');
      return false;
    });
    const reachable = await Promise.race([probe, timeout]);
    res.status(reachable ? 200 : 503).json({ status: reachable ? 'ready' : 'storage_unreachable' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const document = openApiDocument();
  app.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').json(document);
  });

  // Every request under /v1, after the probes: the read path runs the same.
  const api = [createAuthenticator(options.apiKeys), createRateLimiter(options.rateLimit ?? NO_RATE_LIMIT), ...(options.ingestBehind ? [readGate(options.ingestBehind)] : [])];
  app.use('/v1', ...api);
  // Repeats of an expensive read within a second share one answer (responseCache.ts).
  const answers = new ResponseCache();
  const usageIndex = options.usageIndex ?? new UsageIndex(store);
  options.balances.useUsageIndex(usageIndex);
  const forecasts = options.forecasts ?? new ForecastService(options.balances, store, usageIndex);
  const routes = [
    eventsRouter(options.pipeline, options.bodyLimitBytes, options.ingestDeadlineMs),
    balancesRouter(options.balances, answers, usageIndex, forecasts, options.alertRunsOutDays ?? DEFAULT_RUNS_OUT_DAYS),
    forecastsRouter(options.balances, store, usageIndex, forecasts),
    usageRouter(store, options.balances, answers, usageIndex),
  ];
  for (const r of routes) app.use(r.express());
  app.use(staticPage());

  app.use((req, res, next) => {
    // The page's catch-all route may have looked at this request and passed it on: not its answer.
    res.locals.unmatched = true;
    next(noRoute(req.method, req.path));
  });
  const onError = errorHandler(log);
  app.use(onError);
  // Whatever server listens with this app answers the API's reads on the read path, and what its
  // HTTP parser refuses with the error object too.
  const reads = readPath({ before, api, routes, onError });
  app.listen = ((...args: unknown[]) => {
    const server = createServer({ IncomingMessage: ApiRequest, ServerResponse: ApiResponse }, (req, res) => {
      if (!reads(req as ApiRequest, res as ApiResponse)) app(req, res);
    });
    answerClientErrors(server as unknown as Server);
    // As express's own: a callback given is told of an error to listen too.
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      let called = false;
      const once = (...a: unknown[]) => {
        if (called) return;
        called = true;
        (last as (...a: unknown[]) => void)(...a);
      };
      args[args.length - 1] = once;
      server.once('error', once);
    }
    return server.listen(...(args as Parameters<Server['listen']>));
  }) as typeof app.listen;
  return app;
}
