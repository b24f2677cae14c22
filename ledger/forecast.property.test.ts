import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScaled } from '../core/decimal.js';
import { computeLedger, DAY_MS, type LedgerResult, type WalletKey } from './ledger.js';
import { forecastLotsOf, forecastWallet, HORIZON_DAYS, projectedDraws } from './forecast.js';
import { suggestMoves, type MoveSuggestion } from './suggestions.js';
import { ledgerInputOf } from '../test/support/histories.js';
import { accountScenarioArb, historyScenarioArb, type Scenario } from '../test/support/forecasts.js';
import type { RefEvent } from '../test/support/reference.js';

// The forecast agrees with the real ledger, over the ledger's random histories and over random
// accounts of several teams.

const iso = (ms: number) => new Date(ms).toISOString();
const ledgerAt = (events: RefEvent[], at: number): LedgerResult => computeLedger(ledgerInputOf(events, at, 'events'));
const idOf = (wallet: WalletKey) => wallet.slice('team/'.length);
const byLot = (rows: Iterable<{ lotId: string; expiresAt: number; amount: bigint }>) => {
  const sums = new Map<string, bigint>();
  for (const r of rows) sums.set(`${r.lotId}@${r.expiresAt}`, (sums.get(`${r.lotId}@${r.expiresAt}`) ?? 0n) + r.amount);
  return sums;
};

function forecastsOf(ledger: LedgerResult, { wallets, rates }: Pick<Scenario, 'wallets' | 'rates'>) {
  const lots = forecastLotsOf(ledger);
  return wallets.map((wallet, i) => {
    const rate = rates[i] as bigint;
    const own = lots.get(wallet) ?? [];
    return { wallet, lots: own, rate, forecast: forecastWallet(own, rate, ledger.at) };
  });
}

/** With a rate of 0, what each lot has left now is what expires, lot by lot. */
function expectIdleWalletsToLetEverythingExpire({ known, now, wallets }: Scenario) {
  const ledger = ledgerAt(known, now);
  const horizon = now + HORIZON_DAYS * DAY_MS;
  for (const { wallet, forecast } of forecastsOf(ledger, { wallets, rates: wallets.map(() => 0n) })) {
    expect(forecast.runsOutAt).toBeNull();
    const remaining = byLot(
      ledger.lots
        .filter((l) => l.wallet === wallet && !l.hasExpired && l.remaining > 0n && l.expiresAt > now && l.expiresAt <= horizon)
        .map((l) => ({ ...l, amount: l.remaining })),
    );
    expect(byLot(forecast.expiringUnused.map((e) => ({ ...e, amount: e.projectedUnused })))).toEqual(remaining);
    expect(forecast.projectedUnusedTotal).toBe([...remaining.values()].reduce((sum, v) => sum + v, 0n));
  }
}

/**
 * Projected usage sent as usage events: at the run-out the wallet has nothing available and no
 * new overage, while a second earlier a lot was still being drawn; sent to the end, each lot
 * expires with what the forecast leaves in it, give or take the 0.0001 per lot that truncating
 * the draws instead of the remainder leaves on top.
 */
function expectProjectedUsageToMatchTheLedger({ known, now, wallets, rates }: Scenario): number {
  const ledger = ledgerAt(known, now);
  const forecasts = forecastsOf(ledger, { wallets, rates });
  // Every wallet's projected usage at once: wallets draw only on their own lots.
  const draws = forecasts.map(({ lots, rate }) => projectedDraws(lots, rate, now));
  const usage: RefEvent[] = forecasts.flatMap(({ wallet }, w) =>
    (draws[w] ?? []).filter((d) => d.amount > 0n).map((d, i): RefEvent => ({
      event_id: `p${w}-${String(i).padStart(5, '0')}`,
      type: 'usage',
      account_id: 'acme',
      occurred_at: iso(d.at),
      wallet: { type: 'team', id: idOf(wallet) },
      amount: formatScaled(d.amount),
      user_id: 'forecast',
      product: 'compiler',
    })),
  );
  const horizon = now + HORIZON_DAYS * DAY_MS;
  const end = Math.max(now, ...forecasts.flatMap((f) => f.lots.map((l) => l.expiresAt)).filter((t) => t <= horizon));
  const after = ledgerAt([...known, ...usage], end);
  let ranOut = 0;
  for (const [w, { wallet, lots, forecast }] of forecasts.entries()) {
    const overageNow = ledger.wallets.get(wallet)?.overage ?? 0n;
    if (forecast.runsOutAt !== null) {
      const runsOutAt = forecast.runsOutAt;
      expect(runsOutAt % 1000).toBe(0);
      if (runsOutAt > now) {
        ranOut++;
        // The first whole second with nothing left: a second earlier, some lot was being drawn.
        const before = runsOutAt - 1000;
        expect(draws[w]?.some((d) => d.at <= before && before < d.until)).toBe(true);
      }
      const atRunOut = ledgerAt([...known, ...usage.filter((u) => Date.parse(u.occurred_at) < runsOutAt)], runsOutAt).wallets.get(wallet);
      expect({ available: atRunOut?.available ?? 0n, overage: atRunOut?.overage ?? 0n }).toEqual({ available: 0n, overage: overageNow });
    }
    expect(after.wallets.get(wallet)?.overage ?? 0n).toBe(overageNow);
    const expired = byLot(after.tokenEvents.filter((e) => e.type === 'expired' && e.wallet === wallet && e.at > now).map((e) => ({ lotId: e.lots[0]?.lotId ?? '', expiresAt: e.at, amount: e.amount })));
    const unused = byLot(forecast.expiringUnused.map((e) => ({ ...e, amount: e.projectedUnused })));
    const parts = byLot(lots.map((l) => ({ ...l, amount: 1n })));
    for (const key of new Set([...expired.keys(), ...unused.keys()])) {
      const extra = (expired.get(key) ?? 0n) - (unused.get(key) ?? 0n);
      expect(extra >= 0n && extra <= (parts.get(key) ?? 0n), `${wallet} ${key}: expired ${expired.get(key)}, forecast ${unused.get(key)}`).toBe(true);
    }
  }
  return ranOut;
}

/**
 * Every suggested move sent as a move event: the account's projected unused total drops by
 * exactly their sum, no wallet runs out earlier, and each receiver runs out when its last
 * suggestion said.
 */
function expectSuggestedMovesToSaveTheirAmount({ known, now, wallets, rates }: Scenario): number {
  const before = forecastsOf(ledgerAt(known, now), { wallets, rates });
  const suggestions = suggestMoves(before.map((w) => ({ wallet: w.wallet, lots: w.lots, ratePerDay: w.rate })), now);
  const moves: RefEvent[] = suggestions.map((s, i) => ({
    event_id: `s${String(i).padStart(5, '0')}`,
    type: 'move',
    account_id: 'acme',
    occurred_at: iso(now),
    from: { type: 'team', id: idOf(s.from) },
    to: { type: 'team', id: idOf(s.to) },
    lot_id: s.lotId,
    amount: formatScaled(s.amount),
  }));
  const moved = ledgerAt([...known, ...moves], now);
  for (const e of moved.tokenEvents) {
    if (e.type !== 'moved_out' || !e.eventId.startsWith('s')) continue;
    // Each move took all it asked for, from the lot suggested.
    const expiresAt = suggestions[Number(e.eventId.slice(1))]?.expiresAt;
    expect({ shortfall: e.shortfall, expiries: e.lots.map((l) => l.expiresAt) }).toEqual({ shortfall: 0n, expiries: e.lots.map(() => expiresAt) });
  }
  const after = forecastsOf(moved, { wallets, rates });
  const total = (ws: typeof before) => ws.reduce((sum, w) => sum + w.forecast.projectedUnusedTotal, 0n);
  expect(total(before) - total(after)).toBe(suggestions.reduce((sum, m) => sum + m.amount, 0n));
  const lastFor = new Map<WalletKey, MoveSuggestion>();
  for (const s of suggestions) {
    expect(s.amount > 0n && s.from !== s.to).toBe(true);
    lastFor.set(s.to, s);
  }
  before.forEach((w, i) => {
    const runsOutAfter = after[i]?.forecast.runsOutAt ?? null;
    if (w.forecast.runsOutAt === null) expect(runsOutAfter).toBeNull();
    else expect(runsOutAfter === null || runsOutAfter >= w.forecast.runsOutAt).toBe(true);
    const last = lastFor.get(w.wallet);
    if (last) expect(runsOutAfter).toBe(last.toRunsOutAtAfter);
  });
  return suggestions.length;
}

describe('the forecast agrees with the ledger', () => {
  for (const [name, scenarios] of [
    ['1,000 random histories', historyScenarioArb],
    ['1,000 random accounts', accountScenarioArb],
  ] as const) {
    describe(`over ${name}`, () => {
      it('at a rate of 0, every lot with something left expires with all of it', () => {
        fc.assert(fc.property(scenarios, expectIdleWalletsToLetEverythingExpire), { numRuns: 1000 });
      });

      it('projected usage sent as usage events empties the wallet at its run-out and not a second earlier, without overage, and leaves in each lot what the forecast says', () => {
        let ranOut = 0;
        fc.assert(fc.property(scenarios, (scenario) => void (ranOut += expectProjectedUsageToMatchTheLedger(scenario))), { numRuns: 1000 });
        // Enough of them run out later than now for the check to mean something.
        expect(ranOut).toBeGreaterThan(100);
      });

      it('sending every suggested move lowers the projected unused total by exactly their sum, and no wallet runs out earlier', () => {
        let suggested = 0;
        fc.assert(fc.property(scenarios, (scenario) => void (suggested += expectSuggestedMovesToSaveTheirAmount(scenario))), { numRuns: 1000 });
        expect(suggested).toBeGreaterThan(100);
      });
    });
  }
});
