import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp, type AppOptions } from '../../api/app.js';
import { createAuthenticator } from '../../api/auth.js';
import { createRateLimiter } from '../../api/rateLimit.js';
import { BalanceService } from '../../readmodels/balances.js';
import type { Store } from '../../core/clickhouse.js';
import { ConfigError, parseConfig, serverConfigSchema } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { KEYS } from '../support/api.js';
import { freshStore, silentLog } from '../support/store.js';

/** Counts the constant-time comparisons the authenticator makes. */
const comparisons = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      comparisons.count++;
      return actual.timingSafeEqual(a, b);
    },
  };
});

const sha256 = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

interface Running {
  url: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

let store: Store;
beforeAll(async () => {
  store = await freshStore();
});
afterAll(async () => {
  await store.close();
});

/** The real app with options of the test's choosing, on a port of its own. */
async function serve(options: Partial<AppOptions> = {}): Promise<Running> {
  const balances = new BalanceService(store);
  const metrics = createMetrics();
  const log = options.log ?? silentLog;
  const pipeline = createIngestPipeline({ store, metrics, log });
  const app = createApp({ store, pipeline, metrics, log, apiKeys: KEYS, bodyLimitBytes: 1024 * 1024, balances, ...options });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get: (path, headers = {}) => fetch(url + path, { headers }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys', () => {
  it('may be configured as their SHA-256 digest, and then work as the key itself', async () => {
    const config = parseConfig(serverConfigSchema, { BALANCES_API_KEYS: `${sha256('s3cret-initech')}=initech:analyst,plain-key=initech:admin` });
    expect(config.BALANCES_API_KEYS.map((k) => k.accountId)).toEqual(['initech', 'initech']);
    const api = await serve({ apiKeys: config.BALANCES_API_KEYS });
    try {
      const ok = await api.get('/v1/wallets', bearer('s3cret-initech'));
      expect(ok.status).toBe(200);
      expect((await ok.json()).wallets).toEqual([]);
      // The digest itself is not a key: knowing the configuration does not let anyone in.
      const digestAsKey = await api.get('/v1/wallets', bearer(sha256('s3cret-initech')));
      expect(digestAsKey.status).toBe(401);
      expect((await api.get('/v1/wallets', bearer('plain-key'))).status).toBe(200);
      expect((await api.get('/v1/wallets', bearer('s3cret-initecH'))).status).toBe(401);
    } finally {
      await api.close();
    }
  });

  it('compares a presented key with every configured key, whichever matches and whether one does', () => {
    const authenticate = createAuthenticator(KEYS);
    const outcomes: unknown[] = [];
    for (const key of [KEYS[0]?.key, KEYS[KEYS.length - 1]?.key, 'not-a-key']) {
      comparisons.count = 0;
      const req = { headers: { authorization: `Bearer ${key}` } } as Parameters<typeof authenticate>[0];
      authenticate(req, {} as Parameters<typeof authenticate>[1], (err?: unknown) => outcomes.push(err ?? req.principal?.accountId));
      expect(comparisons.count, String(key)).toBe(KEYS.length);
    }
    expect(outcomes.slice(0, 2)).toEqual(['acme', 'globex']);
    expect(outcomes[2]).toMatchObject({ status: 401 });
  });

  it('accepts upper-case hex digests and refuses a malformed one by position, without echoing it', () => {
    const upper = `sha256:${createHash('sha256').update('k').digest('hex').toUpperCase()}`;
    expect(parseConfig(serverConfigSchema, { BALANCES_API_KEYS: `${upper}=acme:admin` }).BALANCES_API_KEYS).toHaveLength(1);
    const short = 'sha256:deadbeefcafe';
    const err = catchConfig({ BALANCES_API_KEYS: `ok-key=acme:admin,${short}=acme:admin` });
    expect(err.message).toMatch(/entry 2.*64 hex digits/);
    expect(err.message).not.toContain('deadbeef');
  });

  it('refuses the same key given twice, plainly and hashed, without echoing either', () => {
    const err = catchConfig({ BALANCES_API_KEYS: `twice-key=acme:admin,${sha256('twice-key')}=globex:admin` });
    expect(err.message).toMatch(/entry 2.*listed twice/);
    expect(err.message).not.toContain('twice-key');
    expect(err.message).not.toContain(sha256('twice-key').slice(7, 20));
  });

  it('never puts any part of a key into a configuration error', () => {
    for (const raw of ['topsecretvalue', 'topsecretvalue=acme', 'topsecretvalue=acme:root', 'topsecretvalue=:admin', 'a=b=c:admin,topsecretvalue']) {
      const err = catchConfig({ BALANCES_API_KEYS: raw });
      expect(err.problems[0]?.variable).toBe('BALANCES_API_KEYS');
      expect(err.message).not.toMatch(/top|secret|value/);
    }
  });

  it('never writes a presented key into the logs, even when a request fails', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('trace', 'security-test', sink);
    // A log line that carries a request's headers is the likely way a key would leak.
    log.info({ event: 'probe', req: { headers: { authorization: 'Bearer leaked-key-1' } }, headers: { authorization: 'Bearer leaked-key-2' } }, 'probe');
    const api = await serve({ log });
    try {
      await api.get('/v1/wallets', bearer('leaked-key-3'));
      await api.get('/v1/wallets/team/x/balance?at=nonsense', bearer('acme-admin'));
      await api.get('/v1/nowhere', bearer('acme-admin'));
    } finally {
      await api.close();
    }
    const text = lines.join('');
    expect(text).toContain('[redacted]');
    expect(text).not.toMatch(/leaked-key|acme-admin/);
  });
});

describe('CORS', () => {
  it('sends no CORS header unless origins are configured, preflight included', async () => {
    const api = await serve();
    try {
      const simple = await api.get('/v1/wallets', { ...bearer('acme-admin'), origin: 'https://evil.example' });
      expect(simple.status).toBe(200);
      expect([...simple.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const preflight = await fetch(`${api.url}/v1/wallets`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(preflight.status).toBeGreaterThanOrEqual(400);
    } finally {
      await api.close();
    }
  });

  it('answers a preflight from a configured origin, and only from it', async () => {
    const config = parseConfig(serverConfigSchema, { BALANCES_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' });
    expect(config.BALANCES_CORS_ORIGINS).toEqual(['https://app.example.com', 'http://localhost:5173']);
    const api = await serve({ corsOrigins: config.BALANCES_CORS_ORIGINS });
    const preflight = (origin: string) =>
      fetch(`${api.url}/v1/wallets`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    try {
      const allowed = await preflight('https://app.example.com');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(allowed.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
      expect(allowed.headers.get('access-control-allow-methods')).toMatch(/GET/);
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
      expect(allowed.headers.get('vary')).toMatch(/origin/i);

      const refused = await preflight('https://app.example.com.evil.example');
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect((await refused.json()).error.code).toBe('origin_not_allowed');

      const read = await api.get('/v1/wallets', { ...bearer('acme-admin'), origin: 'http://localhost:5173' });
      expect(read.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
      const foreign = await api.get('/v1/wallets', { ...bearer('acme-admin'), origin: 'https://evil.example' });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
      expect(foreign.headers.get('vary')).toMatch(/origin/i);
    } finally {
      await api.close();
    }
  });

  it('refuses an origin with a path, a wildcard or no scheme at boot', () => {
    for (const raw of ['https://app.example.com/', 'https://app.example.com/x', '*', 'app.example.com', 'ftp://x.example']) {
      expect(catchConfig({ BALANCES_CORS_ORIGINS: raw }).problems[0]?.variable).toBe('BALANCES_CORS_ORIGINS');
    }
  });
});

describe('rate limiting', () => {
  it('answers 429 with Retry-After and the error object once a key spends its burst, per key', async () => {
    const api = await serve({ rateLimit: { perMinute: 60, burst: 3 } });
    try {
      for (let i = 0; i < 3; i++) expect((await api.get('/v1/alerts', bearer('acme-admin'))).status).toBe(200);
      const limited = await api.get('/v1/alerts', bearer('acme-admin'));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(1);
      expect(await limited.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String), details: { retry_after_seconds: 1 } } });
      // Another key of the same account has its own bucket; health checks are not limited.
      expect((await api.get('/v1/alerts', bearer('acme-analyst'))).status).toBe(200);
      expect((await api.get('/healthz')).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('refills at the configured rate', () => {
    let now = 0;
    const limiter = createRateLimiter({ perMinute: 120, burst: 2 }, () => now);
    const outcome = () => {
      let status = 200;
      const res = { set: () => res } as unknown as Parameters<typeof limiter>[1];
      limiter({ principal: { accountId: 'a', role: 'admin', keyId: 'k' } } as Parameters<typeof limiter>[0], res, (err?: unknown) => {
        status = (err as { status?: number } | undefined)?.status ?? 200;
      });
      return status;
    };
    expect([outcome(), outcome(), outcome()]).toEqual([200, 200, 429]);
    now += 499;
    expect(outcome()).toBe(429);
    now += 1;
    expect(outcome()).toBe(200);
    expect(outcome()).toBe(429);
  });

  it('keeps memory to the keys in use: idle keys are forgotten', () => {
    let now = 0;
    const limiter = createRateLimiter({ perMinute: 600, burst: 10 }, () => now);
    const hit = (keyId: string) => {
      const res = { set: () => res } as unknown as Parameters<typeof limiter>[1];
      limiter({ principal: { accountId: 'a', role: 'admin', keyId } } as Parameters<typeof limiter>[0], res, () => undefined);
    };
    for (let i = 0; i < 5_000; i++) hit(`key-${i}`);
    expect(limiter.trackedKeys()).toBe(5_000);
    now += 61_000;
    hit('key-active');
    expect(limiter.trackedKeys()).toBe(1);
  });

  it('is off with a limit of 0, and the default leaves a polling page and a test suite alone', async () => {
    const off = parseConfig(serverConfigSchema, { BALANCES_RATE_LIMIT_PER_MIN: '0' });
    expect(off.BALANCES_RATE_LIMIT_PER_MIN).toBe(0);
    const defaults = parseConfig(serverConfigSchema, {});
    expect(defaults.BALANCES_RATE_LIMIT_PER_MIN).toBeGreaterThanOrEqual(600);
    const api = await serve({ rateLimit: { perMinute: 0, burst: 1 } });
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => api.get('/v1/alerts', bearer('acme-admin')).then((r) => r.status)));
      expect(new Set(statuses)).toEqual(new Set([200]));
    } finally {
      await api.close();
    }
  });
});

function catchConfig(env: Record<string, string>): ConfigError {
  try {
    parseConfig(serverConfigSchema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was accepted');
}
