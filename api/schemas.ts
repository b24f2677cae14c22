import { z } from 'zod';

/**
 * The API's contract in one place: the query parameters every route accepts and the bodies it
 * answers with. Requests are validated against these schemas, and /openapi.json is generated
 * from them, so the two cannot drift apart.
 */

const walletType = z.enum(['team', 'contract']);
const digits = z.string().regex(/^\d+$/, 'must be a whole number');
const instant = z.string().describe('RFC 3339 time, or relative to now: now, now-90d, now+1h (units s, m, h, d, w)');

export const queries = {
  none: z.object({}).strict(),
  wallets: z.object({ type: walletType.optional() }).strict(),
  balance: z.object({ at: instant.optional() }).strict(),
  tokenEvents: z
    .object({
      from: instant.optional(),
      to: instant.optional(),
      limit: digits.optional().describe('1 to 1000, default 100'),
      cursor: z.string().optional().describe('next_cursor of the previous page'),
    })
    .strict(),
  expiring: z.object({ within_days: digits.optional().describe('default 90'), wallet_type: walletType.optional() }).strict(),
  usageSummary: z.object({ days: digits.optional().describe('1 to 1830, default 90') }).strict(),
  forecast: z.object({ window_days: digits.optional().describe('days of past usage the burn rate averages, 7 to 365, default 28') }).strict(),
  suggestions: z.object({ wallet_type: walletType.optional() }).strict(),
  history: z
    .object({
      from: instant.optional().describe('default: 90 days before to'),
      to: instant.optional().describe('default: now; the range is [from, to), at most 5 years'),
      tz: z.string().optional().describe('IANA time zone of the days, default UTC'),
    })
    .strict(),
  usage: z
    .object({
      wallet_type: walletType.optional(),
      wallet_id: z.string().min(1).optional().describe('needs wallet_type'),
      from: instant.optional().describe('default: 90 days before to'),
      to: instant.optional().describe('default: now; the range is [from, to), at most 5 years'),
      group_by: z.enum(['service', 'user', 'product', 'day']).optional().describe('default service'),
      tz: z.string().optional().describe('IANA time zone for day buckets, default UTC'),
      limit: digits.optional().describe('top N rows by amount, plus an others row; not with group_by=day'),
    })
    .strict(),
};

export const walletPath = z.object({ type: walletType, id: z.string().min(1) });

const amount = z
  .string()
  .regex(/^-?\d+(\.\d{1,4})?$/)
  .describe('exact decimal text with at most 4 decimal places, such as "1234.5"; a JSON number cannot hold every such amount near 10^12');
const time = z.string().describe('RFC 3339');
const wallet = z.object({ type: walletType, id: z.string() });
const runsOutAt = time.nullable().describe('when the wallet runs out at its burn rate, to the second; null when the rate is 0 or not within 730 days');
const days = z.number().int();

export const responses = {
  Error: z.object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  }),
  Health: z.object({ status: z.string() }),
  IngestResult: z.object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.array(z.object({ index: z.number().int(), event_id: z.string().optional(), code: z.string(), message: z.string() })),
  }),
  Wallets: z.object({
    at: time,
    wallets: z.array(
      z.object({
        wallet,
        name: z.string().describe('the latest wallet_name its events carried, else the wallet id'),
        total: amount,
        used: amount,
        available: amount,
        status: z.enum(['green', 'red']),
        overage: amount,
        expiring_within_90d: amount,
        burn_rate_per_day: amount.describe('usage of the last 28 days ÷ 28, truncated to 4 decimals'),
        runs_out_at: runsOutAt,
        projected_unused_total: amount.describe('what the projection at the burn rate leaves to expire'),
      }),
    ),
  }),
  Forecast: z.object({
    wallet,
    at: time.describe('the instant the projection runs from, to the second; the window ends there'),
    window_days: days,
    burn_rate_per_day: amount.describe('non-voided usage in [at − window_days, at) ÷ window_days, truncated to 4 decimals'),
    runs_out_at: runsOutAt,
    expiring_unused: z.array(z.object({ lot_id: z.string(), expires_at: time, projected_unused: amount })).describe('lots with something left now that the projection leaves something in when they expire, by expiry'),
    projected_unused_total: amount,
  }),
  MoveSuggestions: z.object({
    at: time,
    suggestions: z.array(
      z.object({
        account_id: z.string().describe('the account of both wallets: the move event\'s account_id'),
        from: wallet,
        to: wallet,
        lot_id: z.string(),
        amount: amount.describe('the move event\'s amount, with its lot_id'),
        expires_at: time,
        to_runs_out_at_before: runsOutAt,
        to_runs_out_at_after: runsOutAt,
      }),
    ),
  }),
  BalanceHistory: z.object({
    wallet,
    from: time,
    to: time,
    tz: z.string(),
    rows: z.array(
      z
        .object({ day: z.string().describe('local date, YYYY-MM-DD'), total: amount, used: amount, available: amount, expired: amount.describe('cumulative'), overage: amount.describe('cumulative') })
        .describe('the balance at the close of the local day (its last millisecond; `to` for the last day, and never after now)'),
    ),
  }),
  Balance: z.object({
    wallet,
    at: time,
    total: amount,
    used: amount,
    available: amount,
    status: z.enum(['green', 'red']),
    overage: amount,
    expired: amount,
  }),
  TokenEvents: z.object({
    wallet,
    from: time,
    to: time,
    events: z.array(
      z.object({
        type: z.enum(['purchased', 'expired', 'moved_in', 'moved_out']),
        at: time,
        event_id: z.string(),
        amount,
        lots: z.array(z.object({ lot_id: z.string(), amount, expires_at: time })),
        counterparty: wallet.optional(),
        requested: amount.optional(),
        shortfall: amount.optional(),
      }),
    ),
    next_cursor: z.string().nullable(),
  }),
  Expiring: z.object({
    at: time,
    within_days: z.number().int(),
    lots: z.array(z.object({ wallet, lot_id: z.string(), remaining: amount, expires_at: time, days_left: z.number().int() })),
  }),
  UsageSummary: z.object({ wallet, products: z.number().int(), users: z.number().int(), used: amount, from: time, to: time }),
  Usage: z.object({
    from: time,
    to: time,
    group_by: z.enum(['service', 'user', 'product', 'day']),
    tz: z.string(),
    rows: z.array(
      z
        .object({ amount, events: z.number().int(), others: z.literal(true).optional() })
        .catchall(z.string())
        .describe('one row per group: the group_by key (service, user, product or day) holds its value'),
    ),
  }),
  Alerts: z.object({
    at: time,
    alerts: z.array(
      z.union([
        z.object({ type: z.literal('low_balance'), wallet, total: amount, available: amount, overage: amount }),
        z.object({
          type: z.literal('expiring'),
          wallet,
          amount,
          expires_at: time,
          days_left: z.number().int(),
          lots: z.array(z.object({ lot_id: z.string(), remaining: amount, expires_at: time, days_left: z.number().int() })),
        }),
        z.object({ type: z.literal('runs_out'), wallet, runs_out_at: time, days_left: days, burn_rate_per_day: amount, available: amount }),
        z.object({
          type: z.literal('expiring_unused'),
          wallet,
          projected_unused: amount,
          expires_at: time,
          days_left: days,
          lots: z.array(z.object({ lot_id: z.string(), projected_unused: amount, expires_at: time, days_left: days })),
        }),
      ]),
    ),
  }),
};
