import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A problem with one environment variable, named so an operator can fix it without reading code. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Role = 'admin' | 'analyst' | 'ingest';
export interface ApiKey {
  /** The key itself, or `sha256:<64 hex>`, its SHA-256 digest, so the secret need not sit in the environment. */
  key: string;
  accountId: string;
  role: Role;
}

const ROLES: readonly Role[] = ['admin', 'analyst', 'ingest'];
export const HASHED_KEY = /^sha256:([0-9a-f]{64})$/i;

/** The SHA-256 digest a presented key is compared with: given hashed, or hashed here. */
export function keyDigest(key: string): Buffer {
  const hashed = HASHED_KEY.exec(key);
  return hashed ? Buffer.from(hashed[1] as string, 'hex') : createHash('sha256').update(key).digest();
}

/**
 * `key=account_id:role,key2=account_id:role`, where a key is plain or `sha256:<64 hex>`.
 * Problems name the entry by its position and never echo any part of a key.
 */
function parseApiKeys(raw: string, ctx: z.RefinementCtx): ApiKey[] {
  const keys: ApiKey[] = [];
  const seen = new Set<string>();
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, index) => {
    const position = `entry ${index + 1}`;
    const match = /^([^=\s]+)=([^:\s]+):([a-z]+)$/.exec(entry);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `${position} is not key=account_id:role (the entry is not shown, as it may hold a key)` });
      return;
    }
    const [, key, accountId, role] = match as unknown as [string, string, string, string];
    if (/^sha256:/i.test(key) && !HASHED_KEY.test(key)) {
      ctx.addIssue({ code: 'custom', message: `${position} (account "${accountId}"): a hashed key is sha256: followed by 64 hex digits` });
      return;
    }
    if (!ROLES.includes(role as Role)) {
      ctx.addIssue({ code: 'custom', message: `${position} (account "${accountId}"): role "${role}" must be one of ${ROLES.join(', ')}` });
      return;
    }
    // A key given once plainly and once hashed is the same key.
    const digest = keyDigest(key).toString('hex');
    if (seen.has(digest)) {
      ctx.addIssue({ code: 'custom', message: `${position} (account "${accountId}"): the same key is listed twice` });
      return;
    }
    seen.add(digest);
    keys.push({ key, accountId, role: role as Role });
  });
  return keys;
}

/** `https://app.example.com,http://localhost:5173`: each a bare origin (scheme, host, port). */
function parseOrigins(raw: string, ctx: z.RefinementCtx): string[] {
  const origins: string[] = [];
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const bare = url !== undefined && /^https?:$/.test(url.protocol) && url.pathname === '/' && !url.search && !url.hash && !url.username && !entry.endsWith('/');
    if (!bare) ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin such as https://app.example.com (no path, no trailing /)` });
    else origins.push((url as URL).origin);
  }
  return origins;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (letters, digits, _)');

const storageShape = {
  BALANCES_DATA_DIR: z.string().min(1).default('./data'),
  CLICKHOUSE_URL: z.url({ protocol: /^https?$/ }).optional(),
  CLICKHOUSE_USER: z.string().optional(),
  CLICKHOUSE_PASSWORD: z.string().optional(),
  CLICKHOUSE_DATABASE: identifier.default('balances'),
  /** A ClickHouse cluster name from the server's remote_servers; needs CLICKHOUSE_URL. */
  CLICKHOUSE_CLUSTER: identifier.optional(),
};

const kafkaShape = {
  KAFKA_BROKERS: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((b) => b.trim()).filter(Boolean) : undefined))
    .refine((b) => b === undefined || b.every((x) => /^[^:\s]+:\d+$/.test(x)), 'must be host:port[,host:port]'),
  KAFKA_TOPIC: z.string().regex(/^[A-Za-z0-9._-]{1,240}$/, 'must be a valid Kafka topic name').default('balances.events'),
  KAFKA_GROUP_ID: z.string().min(1).default('balances-ingest'),
  KAFKA_CLIENT_ID: z.string().min(1).default('balances'),
  /** A consumer that dies without leaving is replaced after this long. */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(300_000).default(30_000),
  INGEST_BATCH_SIZE: positiveInt.default(20_000),
  INGEST_FLUSH_MS: positiveInt.default(200),
  INGEST_MAX_IN_FLIGHT: positiveInt.default(100_000),
};

const commonShape = {
  ...storageShape,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

const serverShape = {
  ...commonShape,
  ...kafkaShape,
  PORT: port.default(3000),
  BALANCES_API_KEYS: z
    .string()
    .default('')
    .transform((raw, ctx) => parseApiKeys(raw, ctx)),
  BALANCES_BODY_LIMIT_BYTES: positiveInt.default(8 * 1024 * 1024),
  /** Origins whose pages may call the API from a browser; none by default. */
  BALANCES_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((raw, ctx) => parseOrigins(raw, ctx)),
  /** Sustained requests per minute per key (0: no limit); 100 a second leaves polling pages and scripts far below. */
  BALANCES_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(0).default(6_000),
  /** Requests a key may send at once; by default a minute's worth. */
  BALANCES_RATE_LIMIT_BURST: positiveInt.optional(),
  /** Usage entries held in memory over all accounts (about 40 bytes each); 0 answers usage from storage only. */
  BALANCES_USAGE_INDEX_ENTRIES: z.coerce.number().int().min(0).default(2_000_000),
  ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  ALERT_EVALUATION_INTERVAL_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** A wallet that runs out within this many days at its burn rate fires a `runs_out` alert. */
  ALERT_RUNS_OUT_DAYS: z.coerce.number().int().min(1).max(730).default(30),
};

const ingestShape = { ...commonShape, ...kafkaShape };

export const serverConfigSchema = z.object(serverShape);
export const ingestConfigSchema = z.object(ingestShape);
export const storageConfigSchema = z.object(commonShape);

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type IngestConfig = z.infer<typeof ingestConfigSchema>;
export type StorageConfig = z.infer<typeof storageConfigSchema>;

/** Parses the environment once, reporting every problem together. */
export function parseConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  // An empty variable means "not set": `PORT= npm start` should not fail on an empty number.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    variable: String(issue.path[0] ?? '(environment)'),
    message: issue.message,
  }));
  throw new ConfigError(problems);
}

/** For process entry points: a bad configuration exits at boot with every problem listed. */
export function loadConfigOrExit<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
