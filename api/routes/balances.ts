import type { Request } from 'express';
import { Routes } from '../readPath.js';
import type { BalanceService } from '../../readmodels/balances.js';
import type { UsageIndex } from '../../readmodels/usageIndex.js';
import type { ForecastService } from '../../readmodels/forecasts.js';
import { alertsOf } from '../../readmodels/alerts.js';
import { DAY_MS, walletKey, walletOf, type LedgerResult, type LotState, type TokenEvent, type WalletBalance, type WalletKey } from '../../ledger/ledger.js';
import { formatScaled } from '../../core/decimal.js';
import { accountOf, requireRole } from '../auth.js';
import { answerKey, type ResponseCache } from '../responseCache.js';
import { SnapshotAnswers } from '../snapshotAnswers.js';
import { queries } from '../schemas.js';
import { validateQuery } from '../validate.js';
import { ApiError, walletNotFound } from '../errors.js';
import { parseInstant, parseInteger, parseRange, parseWalletType } from '../params.js';

const iso = (ms: number) => new Date(ms).toISOString();

function balanceFields(balance: WalletBalance | undefined) {
  return {
    total: formatScaled(balance?.total ?? 0n),
    used: formatScaled(balance?.used ?? 0n),
    available: formatScaled(balance?.available ?? 0n),
    status: balance?.status ?? 'red',
    overage: formatScaled(balance?.overage ?? 0n),
  };
}

export function tokenEventJson(event: TokenEvent) {
  return {
    type: event.type,
    at: iso(event.at),
    event_id: event.eventId,
    amount: formatScaled(event.amount),
    lots: event.lots.map((l) => ({ lot_id: l.lotId, amount: formatScaled(l.amount), expires_at: iso(l.expiresAt) })),
    ...(event.counterparty ? { counterparty: walletOf(event.counterparty) } : {}),
    ...(event.requested !== undefined ? { requested: formatScaled(event.requested) } : {}),
    ...(event.shortfall !== undefined ? { shortfall: formatScaled(event.shortfall) } : {}),
  };
}

/** Newest first; ties broken so that a cursor position is exact. */
function newestFirst(a: TokenEvent, b: TokenEvent): number {
  return b.at - a.at || cmp(a.type, b.type) || cmp(a.eventId, b.eventId) || cmp(a.lots[0]?.lotId ?? '', b.lots[0]?.lotId ?? '');
}
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function encodeCursor(e: TokenEvent): string {
  return Buffer.from(JSON.stringify([e.at, e.type, e.eventId, e.lots[0]?.lotId ?? ''])).toString('base64url');
}

function decodeCursor(cursor: unknown): TokenEvent | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [at, type, eventId, lotId] = JSON.parse(Buffer.from(String(cursor), 'base64url').toString()) as [number, TokenEvent['type'], string, string];
    if (typeof at !== 'number' || typeof type !== 'string' || typeof eventId !== 'string') throw new Error('shape');
    return { at, type, eventId, wallet: walletKey('', ''), amount: 0n, lots: [{ lotId, amount: 0n, expiresAt: 0 }] };
  } catch {
    throw new ApiError(400, 'invalid_parameter', 'cursor is not one this API returned', { parameter: 'cursor' });
  }
}

export function expiringLotJson(lot: LotState, at: number) {
  return {
    wallet: walletOf(lot.wallet),
    lot_id: lot.lotId,
    remaining: formatScaled(lot.remaining),
    expires_at: iso(lot.expiresAt),
    days_left: Math.max(0, Math.ceil((lot.expiresAt - at) / DAY_MS)),
  };
}

/**
 * The wallet of a `/v1/wallets/{type}/{id}/…` path; 404 for a wallet this key's account never
 * named, exactly as for one that does not exist. A wallet in the current snapshot exists; only
 * others cost a lookup.
 */
export async function existingWallet(balances: Pick<BalanceService, 'walletExists'>, req: Request, current?: LedgerResult): Promise<WalletKey> {
  const type = parseWalletType('type', req.params.type, true) as string;
  const id = String(req.params.id);
  const key = walletKey(type, id);
  if (current?.wallets.has(key)) return key;
  if (!(await balances.walletExists(accountOf(req), type, id))) {
    throw walletNotFound(type, id);
  }
  return key;
}

/** An instant answered by a forecast (whole seconds), or null. */
export const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function balancesRouter(balances: BalanceService, answers: ResponseCache, usageIndex: UsageIndex, forecasts: ForecastService, runsOutDays: number): Routes {
  const router = new Routes();
  const readers = requireRole('admin', 'analyst');
  // The account-wide reads of the current snapshot: repeats within a second share one body, each
  // named by its parameters as validated.
  const fromSnapshot = new SnapshotAnswers();

  router.get('/v1/wallets', readers, validateQuery(queries.wallets), async (req, res) => {
    const type = parseWalletType('type', req.query.type, false);
    const account = accountOf(req);
    const { ledger, forecast } = await forecasts.current(account);
    const names = balances.namesOf(account);
    const body = fromSnapshot.get(ledger, names, `wallets ${type ?? ''}`, () => {
      const wallets = [...ledger.wallets.values()]
        .filter((w) => type === undefined || walletOf(w.wallet).type === type)
        .sort((a, b) => cmp(a.wallet, b.wallet))
        .map((w) => {
          const wallet = walletOf(w.wallet);
          const row = forecast.wallets.get(w.wallet);
          return {
            wallet,
            name: names.get(w.wallet) ?? wallet.id,
            ...balanceFields(w),
            expiring_within_90d: formatScaled(w.expiringWithin90d),
            burn_rate_per_day: formatScaled(row?.ratePerDay ?? 0n),
            runs_out_at: isoOrNull(row?.forecast.runsOutAt ?? null),
            projected_unused_total: formatScaled(row?.forecast.projectedUnusedTotal ?? 0n),
          };
        });
      return JSON.stringify({ at: iso(ledger.at), wallets });
    });
    res.set('Cache-Control', 'private, max-age=5').type('application/json').send(body);
  });

  router.get('/v1/wallets/:type/:id/balance', readers, validateQuery(queries.balance), async (req, res) => {
    const account = accountOf(req);
    const now = balances.now();
    const at = req.query.at === undefined ? undefined : parseInstant('at', req.query.at, now);
    const answerAt = async (current?: LedgerResult) => {
      const wallet = await existingWallet(balances, req, current ?? balances.latest(account));
      // A past instant is computed in memory when the account's usage is held there.
      const ledger = current ?? (await balances.at(account, wallet, at as number, await usageIndex.ready(account)));
      const balance = ledger.wallets.get(wallet);
      return { wallet: walletOf(wallet), at: iso(ledger.at), ...balanceFields(balance), expired: formatScaled(balance?.expired ?? 0n) };
    };
    if (at === undefined) {
      res.set('Cache-Control', 'private, max-age=5').json(await answerAt(await balances.current(account)));
      return;
    }
    // A past instant is a ledger run of its own: repeats within a second share it.
    const key = answerKey(balances.writeStamp(account), account, now, req.originalUrl);
    const answer = await answers.get(key, async () => ({ status: 200, contentType: 'application/json', body: JSON.stringify(await answerAt()) }));
    res.set('Cache-Control', 'private, max-age=5').type(answer.contentType).send(answer.body);
  });

  router.get('/v1/wallets/:type/:id/events', readers, validateQuery(queries.tokenEvents), async (req, res) => {
    const now = balances.now();
    const range = parseRange(req.query, now, 365 * 5);
    const limit = parseInteger('limit', req.query.limit, 100, 1, 1000);
    const after = decodeCursor(req.query.cursor);
    const ledger = await balances.current(accountOf(req));
    const wallet = await existingWallet(balances, req, ledger);
    const events = ledger.tokenEvents
      .filter((e) => e.wallet === wallet && e.at >= range.from && e.at < range.to)
      .sort(newestFirst)
      .filter((e) => after === undefined || newestFirst(after, e) < 0);
    const page = events.slice(0, limit);
    res.set('Cache-Control', 'private, max-age=5').json({
      wallet: walletOf(wallet),
      from: iso(range.from),
      to: iso(range.to),
      events: page.map(tokenEventJson),
      next_cursor: events.length > limit ? encodeCursor(page[page.length - 1] as TokenEvent) : null,
    });
  });

  router.get('/v1/expiring', readers, validateQuery(queries.expiring), async (req, res) => {
    const days = parseInteger('within_days', req.query.within_days, 90, 0, 3650);
    const type = parseWalletType('wallet_type', req.query.wallet_type, false);
    const ledger = await balances.current(accountOf(req));
    const body = fromSnapshot.get(ledger, undefined, `expiring ${days} ${type ?? ''}`, () => {
      const horizon = ledger.at + days * DAY_MS;
      const lots = ledger.lots
        .filter((l) => !l.hasExpired && l.remaining > 0n && l.expiresAt <= horizon && (type === undefined || walletOf(l.wallet).type === type))
        .sort((a, b) => a.expiresAt - b.expiresAt || cmp(a.wallet, b.wallet) || cmp(a.lotId, b.lotId))
        .map((l) => expiringLotJson(l, ledger.at));
      return JSON.stringify({ at: iso(ledger.at), within_days: days, lots });
    });
    res.set('Cache-Control', 'private, max-age=60').type('application/json').send(body);
  });

  router.get('/v1/alerts', readers, validateQuery(queries.none), async (req, res) => {
    const { ledger, forecast } = await forecasts.current(accountOf(req));
    const body = fromSnapshot.get(ledger, undefined, 'alerts', () =>
      JSON.stringify({
        at: iso(ledger.at),
        alerts: alertsOf(ledger, { forecast, runsOutDays }).map((a) => ({ type: a.type, wallet: a.wallet, ...a.details })),
      }),
    );
    res.set('Cache-Control', 'private, max-age=30').type('application/json').send(body);
  });

  return router;
}
