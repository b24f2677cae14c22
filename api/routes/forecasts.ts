import { Routes } from '../readPath.js';
import type { BalanceService } from '../../readmodels/balances.js';
import type { UsageIndex } from '../../readmodels/usageIndex.js';
import { DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, type ForecastService } from '../../readmodels/forecasts.js';
import { walletHistory } from '../../readmodels/balanceHistory.js';
import { isTimeZone } from '../../readmodels/usage.js';
import { walletOf } from '../../ledger/ledger.js';
import type { MoveSuggestion } from '../../ledger/suggestions.js';
import type { Store } from '../../core/clickhouse.js';
import { formatScaled } from '../../core/decimal.js';
import { accountOf, requireRole } from '../auth.js';
import { queries } from '../schemas.js';
import { validateQuery } from '../validate.js';
import { ApiError } from '../errors.js';
import { parseInteger, parseRange, parseWalletType } from '../params.js';
import { existingWallet, isoOrNull } from './balances.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** Forecasts (SPEC section 5): one wallet's, the suggested moves, and a wallet's daily closing balances. */
export function forecastsRouter(balances: BalanceService, store: Store, usageIndex: UsageIndex, forecasts: ForecastService): Routes {
  const router = new Routes();
  const readers = requireRole('admin', 'analyst');

  router.get('/v1/wallets/:type/:id/forecast', readers, validateQuery(queries.forecast), async (req, res) => {
    const windowDays = parseInteger('window_days', req.query.window_days, DEFAULT_WINDOW_DAYS, MIN_WINDOW_DAYS, MAX_WINDOW_DAYS);
    const account = accountOf(req);
    const wallet = await existingWallet(balances, req, await balances.current(account));
    const { at, row } = await forecasts.wallet(account, wallet, windowDays);
    res.set('Cache-Control', 'private, max-age=5').json({
      wallet: walletOf(wallet),
      at: iso(at),
      window_days: windowDays,
      burn_rate_per_day: formatScaled(row.ratePerDay),
      runs_out_at: isoOrNull(row.forecast.runsOutAt),
      expiring_unused: row.forecast.expiringUnused.map((l) => ({ lot_id: l.lotId, expires_at: iso(l.expiresAt), projected_unused: formatScaled(l.projectedUnused) })),
      projected_unused_total: formatScaled(row.forecast.projectedUnusedTotal),
    });
  });

  /** Suggestions stand for a snapshot, and 1,000 wallets may have thousands: each list is written out once. */
  const bodies = new WeakMap<MoveSuggestion[], string>();
  router.get('/v1/suggestions/moves', readers, validateQuery(queries.suggestions), async (req, res) => {
    const type = parseWalletType('wallet_type', req.query.wallet_type, false);
    const { at, suggestions } = await forecasts.suggestedMoves(accountOf(req), type);
    let body = bodies.get(suggestions);
    if (body === undefined) bodies.set(suggestions, (body = JSON.stringify(suggestionsJson(accountOf(req), at, suggestions))));
    res.set('Cache-Control', 'private, max-age=5').type('application/json').send(body);
  });

  router.get('/v1/wallets/:type/:id/history', readers, validateQuery(queries.history), async (req, res) => {
    const tz = req.query.tz === undefined ? 'UTC' : String(req.query.tz);
    if (!isTimeZone(tz)) throw new ApiError(400, 'invalid_parameter', `tz "${tz}" is not a known time zone`, { parameter: 'tz' });
    const range = parseRange(req.query, balances.now());
    const account = accountOf(req);
    const wallet = await existingWallet(balances, req, await balances.current(account));
    const days = await walletHistory(balances, store, usageIndex, account, wallet, { ...range, tz });
    res.set('Cache-Control', 'private, max-age=60').json({
      wallet: walletOf(wallet),
      from: iso(range.from),
      to: iso(range.to),
      tz,
      rows: days.map(({ day, balance }) => ({
        day,
        total: formatScaled(balance.total),
        used: formatScaled(balance.used),
        available: formatScaled(balance.available),
        expired: formatScaled(balance.expired),
        overage: formatScaled(balance.overage),
      })),
    });
  });

  return router;
}

/** Each suggestion names its account, so the `move` event that carries it out can be written whole. */
function suggestionsJson(accountId: string, at: number, suggestions: readonly MoveSuggestion[]) {
  return {
    at: iso(at),
    suggestions: suggestions.map((s) => ({
      account_id: accountId,
      from: walletOf(s.from),
      to: walletOf(s.to),
      lot_id: s.lotId,
      amount: formatScaled(s.amount),
      expires_at: iso(s.expiresAt),
      to_runs_out_at_before: isoOrNull(s.toRunsOutAtBefore),
      to_runs_out_at_after: isoOrNull(s.toRunsOutAtAfter),
    })),
  };
}
