import { z } from 'zod';
import { queries, responses, walletPath } from './schemas.js';

type Status = 200 | 400 | 401 | 403 | 404 | 413 | 415 | 503;

export interface Operation {
  method: 'get' | 'post';
  path: string;
  /** Stable: generated clients name their functions after it. */
  operationId: string;
  summary: string;
  roles?: string[];
  query?: z.ZodObject;
  walletPath?: boolean;
  response: keyof typeof responses;
  errors: Status[];
  requestBody?: unknown;
  public?: boolean;
  produces?: string[];
}

const READ_ERRORS: Status[] = [400, 401, 403];

/** Every route of the API. The app mounts the same schemas; a test holds every answer to this list. */
export const operations: Operation[] = [
  { method: 'get', path: '/healthz', operationId: 'getLiveness', summary: 'Liveness', response: 'Health', errors: [400], public: true },
  { method: 'get', path: '/readyz', operationId: 'getReadiness', summary: 'Readiness: storage reachable', response: 'Health', errors: [400, 503], public: true },
  {
    method: 'post',
    path: '/v1/events',
    operationId: 'ingestEvents',
    summary: 'Ingest events: a JSON array, one JSON object, or NDJSON. Answers once the accepted events are stored.',
    roles: ['admin', 'ingest'],
    response: 'IngestResult',
    errors: [400, 401, 403, 413, 415, 503],
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: { oneOf: [{ type: 'array', items: { type: 'object' } }, { type: 'object' }] } },
        'application/x-ndjson': { schema: { type: 'string', description: 'one JSON event per line' } },
      },
    },
  },
  { method: 'get', path: '/v1/wallets', operationId: 'listWallets', summary: 'Every wallet of the account with its balance now', roles: ['admin', 'analyst'], query: queries.wallets, response: 'Wallets', errors: READ_ERRORS },
  {
    method: 'get',
    path: '/v1/wallets/{type}/{id}/balance',
    operationId: 'getWalletBalance',
    summary: 'A wallet balance at an instant (default now)',
    roles: ['admin', 'analyst'],
    query: queries.balance,
    walletPath: true,
    response: 'Balance',
    errors: [...READ_ERRORS, 404],
  },
  {
    method: 'get',
    path: '/v1/wallets/{type}/{id}/events',
    operationId: 'listWalletTokenEvents',
    summary: 'Token events (purchased, expired, moved_in, moved_out), newest first, paged by cursor',
    roles: ['admin', 'analyst'],
    query: queries.tokenEvents,
    walletPath: true,
    response: 'TokenEvents',
    errors: [...READ_ERRORS, 404],
  },
  {
    method: 'get',
    path: '/v1/wallets/{type}/{id}/usage-summary',
    operationId: 'getWalletUsageSummary',
    summary: 'Distinct products, distinct users and amount used over the last N days',
    roles: ['admin', 'analyst'],
    query: queries.usageSummary,
    walletPath: true,
    response: 'UsageSummary',
    errors: [...READ_ERRORS, 404],
  },
  {
    method: 'get',
    path: '/v1/wallets/{type}/{id}/forecast',
    operationId: 'getWalletForecast',
    summary: 'The wallet projected forward at its burn rate: when it runs out, and what its lots leave to expire',
    roles: ['admin', 'analyst'],
    query: queries.forecast,
    walletPath: true,
    response: 'Forecast',
    errors: [...READ_ERRORS, 404],
  },
  {
    method: 'get',
    path: '/v1/wallets/{type}/{id}/history',
    operationId: 'getWalletBalanceHistory',
    summary: 'The balance at the close of each local day of the range (default the last 90 days)',
    roles: ['admin', 'analyst'],
    query: queries.history,
    walletPath: true,
    response: 'BalanceHistory',
    errors: [...READ_ERRORS, 404],
  },
  {
    method: 'get',
    path: '/v1/suggestions/moves',
    operationId: 'listSuggestedMoves',
    summary: 'Moves between wallets of one type that turn tokens the projection lets expire into usage elsewhere',
    roles: ['admin', 'analyst'],
    query: queries.suggestions,
    response: 'MoveSuggestions',
    errors: READ_ERRORS,
  },
  { method: 'get', path: '/v1/expiring', operationId: 'listExpiringLots', summary: 'Lots with something left that expire within the window', roles: ['admin', 'analyst'], query: queries.expiring, response: 'Expiring', errors: READ_ERRORS },
  {
    method: 'get',
    path: '/v1/usage',
    operationId: 'getUsage',
    summary: 'Usage totals over any range, grouped by service, user, product or day; CSV with Accept: text/csv',
    roles: ['admin', 'analyst'],
    query: queries.usage,
    response: 'Usage',
    errors: [...READ_ERRORS, 404],
    produces: ['application/json', 'text/csv'],
  },
  { method: 'get', path: '/v1/alerts', operationId: 'listAlerts', summary: 'Current low_balance, expiring, runs_out and expiring_unused alerts', roles: ['admin', 'analyst'], query: queries.none, response: 'Alerts', errors: READ_ERRORS },
];

const STATUS_TEXT: Record<Status, string> = {
  200: 'OK',
  400: 'Invalid request: the parameter is named in error.details.parameter',
  401: 'Missing or unknown API key',
  403: "The key's role may not use this route",
  404: 'No such wallet in this account',
  413: 'Request body above the cap',
  415: 'A body that is not JSON or NDJSON in UTF-8',
  503: 'Storage unreachable, or it did not confirm in time (storage_unavailable); retry after Retry-After seconds',
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = [];
    if (op.walletPath) {
      for (const [name, field] of Object.entries(walletPath.shape)) {
        parameters.push({ name, in: 'path', required: true, schema: jsonSchema(field as z.ZodType) });
      }
    }
    if (op.query) {
      for (const [name, field] of Object.entries(op.query.shape)) {
        const schema = jsonSchema(field as z.ZodType);
        parameters.push({ name, in: 'query', required: false, description: schema.description, schema });
      }
    }
    const ok = { $ref: `#/components/schemas/${op.response}` };
    const responsesOf: Record<string, unknown> = {
      200: {
        description: STATUS_TEXT[200],
        content: Object.fromEntries((op.produces ?? ['application/json']).map((type) => [type, type === 'text/csv' ? { schema: { type: 'string' } } : { schema: ok }])),
      },
    };
    for (const status of op.errors) {
      const schema = op.response === 'Health' && status === 503 ? ok : { $ref: '#/components/schemas/Error' };
      responsesOf[status] = {
        description: STATUS_TEXT[status],
        ...(status === 503 && op.response !== 'Health' ? { headers: { 'Retry-After': { description: 'seconds to wait before sending the same events again', schema: { type: 'integer' } } } } : {}),
        content: { 'application/json': { schema } },
      };
    }
    if (!op.public) responsesOf[500] = { description: 'Server fault; never a stack trace', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    paths[op.path] = {
      ...paths[op.path],
      [op.method]: {
        operationId: op.operationId,
        summary: op.summary,
        ...(op.roles ? { description: `Roles: ${op.roles.join(', ')}` } : {}),
        ...(op.public ? { security: [] } : {}),
        parameters,
        ...(op.requestBody ? { requestBody: op.requestBody } : {}),
        responses: responsesOf,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Token & credit balances', version: '1.0.0', description: 'Prepaid token and credit balances: events in, exact balances, usage analytics and alerts out.', license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' } },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    // Relative: the document describes the server that serves it, wherever that runs.
    servers: [{ url: '/', description: 'the server that serves this document' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'BALANCES_API_KEYS: key=account_id:role' } },
      schemas: Object.fromEntries(Object.entries(responses).map(([name, schema]) => [name, jsonSchema(schema)])),
    },
  };
}
