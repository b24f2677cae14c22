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
  key: string;
  accountId: string;
  role: Role;
}

const ROLES: readonly Role[] = ['admin', 'analyst', 'ingest'];

/** `key=account_id:role,key2=account_id:role` */
function parseApiKeys(raw: string, ctx: z.RefinementCtx): ApiKey[] {
  const keys: ApiKey[] = [];
  const seen = new Set<string>();
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([^=\s]+)=([^:\s]+):([a-z]+)$/.exec(entry);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `entry "${redact(entry)}" is not key=account_id:role` });
      continue;
    }
    const [, key, accountId, role] = match as unknown as [string, string, string, string];
    if (!ROLES.includes(role as Role)) {
      ctx.addIssue({ code: 'custom', message: `role "${role}" must be one of ${ROLES.join(', ')}` });
      continue;
    }
    if (seen.has(key)) {
      ctx.addIssue({ code: 'custom', message: `key for account "${accountId}" is listed twice` });
      continue;
    }
    seen.add(key);
    keys.push({ key, accountId, role: role as Role });
  }
  return keys;
}

/** Never echo a full secret into logs or error output. */
function redact(entry: string): string {
  const eq = entry.indexOf('=');
  return eq > 0 ? `${entry.slice(0, Math.min(3, eq))}…${entry.slice(eq)}` : `${entry.slice(0, 3)}…`;
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
  ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  ALERT_EVALUATION_INTERVAL_MS: z.coerce.number().int().min(1_000).default(60_000),
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
