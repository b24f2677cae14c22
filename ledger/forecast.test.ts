import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScaled } from '../core/decimal.js';
import { computeLedger, DAY_MS, walletKey, type LedgerResult, type WalletKey } from './ledger.js';
import { burnRatePerDay, forecastLotsOf, forecastWallet, HORIZON_DAYS, projectedDraws, type ForecastLot } from './forecast.js';
import { suggestMoves, type MoveSuggestion } from './suggestions.js';
import { historyArb, ledgerInputOf } from '../test/support/histories.js';
import type { RefEvent } from '../test/support/reference.js';

const NOW = Date.UTC(2026, 2, 1);
const day = (n: number) => NOW + n * DAY_MS;
const tokens = (n: number) => BigInt(Math.round(n * 10_000));
const perDay = tokens;

/** A lot bought with everything left, as the ledger would hand it to the forecast. */
function lot(lotId: string, amount: number, expiresInDays: number, startsInDays = -1): ForecastLot {
  return { lotId, remaining: tokens(amount), effectiveAt: day(startsInDays), expiresAt: day(expiresInDays), originalAmount: tokens(amount), originalEffectiveAt: day(startsInDays) };
}

describe('the forecast of one wallet', () => {
  it('runs out when steady usage has used up every lot', () => {
    const forecast = forecastWallet([lot('L1', 100, 365)], perDay(10), NOW);
    expect(forecast.runsOutAt).toBe(day(10));
    expect(forecast.expiringUnused).toEqual([]);
  });

  it('gives the run-out instant to the second, rounded up: the first whole second with nothing left', () => {
    // 100 tokens at 7 a day last 100/7 days = 1,234,285.71… s.
    expect(forecastWallet([lot('L1', 100, 365)], perDay(7), NOW).runsOutAt).toBe(NOW + 1_234_286_000);
  });

  it('a wallet with nothing available and a positive rate runs out now', () => {
    expect(forecastWallet([], perDay(1), NOW).runsOutAt).toBe(NOW);
    expect(forecastWallet([lot('F', 50, 60, 5)], perDay(1), NOW).runsOutAt).toBe(NOW);
  });

  it('at a rate of 0 nothing runs out and every lot expires with all it has left', () => {
    const forecast = forecastWallet([lot('L1', 100, 30), lot('L2', 20.5, 10)], 0n, NOW);
    expect(forecast.runsOutAt).toBeNull();
    expect(forecast.expiringUnused).toEqual([
      { lotId: 'L2', expiresAt: day(10), projectedUnused: tokens(20.5) },
      { lotId: 'L1', expiresAt: day(30), projectedUnused: tokens(100) },
    ]);
    expect(forecast.projectedUnusedTotal).toBe(tokens(120.5));
  });

  it('usage draws the earliest-expiring lot first, so what expires unused is the rest of it', () => {
    // 10 a day: L-soon gives 100 before it expires on day 10 and keeps 400; L-late lasts to day 20.
    const forecast = forecastWallet([lot('L-late', 100, 60), lot('L-soon', 500, 10)], perDay(10), NOW);
    expect(forecast.expiringUnused).toEqual([{ lotId: 'L-soon', expiresAt: day(10), projectedUnused: tokens(400) }]);
    expect(forecast.runsOutAt).toBe(day(20));
  });

  it('a lot the projection does not reach before it expires keeps its whole remainder', () => {
    // Both expire on day 10; the smaller original amount burns first and is not used up by then.
    const forecast = forecastWallet([lot('big', 500, 10), lot('small', 50, 10)], perDay(1), NOW);
    expect(forecast.expiringUnused).toEqual([
      { lotId: 'small', expiresAt: day(10), projectedUnused: tokens(40) },
      { lotId: 'big', expiresAt: day(10), projectedUnused: tokens(500) },
    ]);
    expect(forecast.runsOutAt).toBe(day(10));
  });

  it('a wallet whose last lot expires with something left runs out at that expiry', () => {
    const forecast = forecastWallet([lot('L1', 100, 5)], perDay(10), NOW);
    expect(forecast.runsOutAt).toBe(day(5));
    expect(forecast.projectedUnusedTotal).toBe(tokens(50));
  });

  it('a future lot extends the run-out date', () => {
    expect(forecastWallet([lot('A', 100, 100)], perDay(10), NOW).runsOutAt).toBe(day(10));
    // F starts on day 5 and expires first, so it is drawn from then; A lasts 5 days longer.
    const forecast = forecastWallet([lot('A', 100, 100), lot('F', 50, 60, 5)], perDay(10), NOW);
    expect(forecast.runsOutAt).toBe(day(15));
    expect(forecast.expiringUnused).toEqual([]);
  });

  it('a lot that starts after the wallet ran dry leaves the run-out date where it was, and is used from its start', () => {
    const forecast = forecastWallet([lot('A', 30, 100), lot('F', 100, 25, 20)], perDay(10), NOW);
    expect(forecast.runsOutAt).toBe(day(3));
    expect(forecast.expiringUnused).toEqual([{ lotId: 'F', expiresAt: day(25), projectedUnused: tokens(50) }]);
  });

  it('does not forecast past two years: no run-out beyond the horizon, no lot expiring after it', () => {
    const forecast = forecastWallet([lot('L1', 1000, 800), lot('L2', 5, 700)], perDay(1), NOW);
    expect(forecast.runsOutAt).toBeNull();
    expect(forecast.expiringUnused).toEqual([]);
    expect(forecastWallet([lot('L1', 730, 800)], perDay(1), NOW).runsOutAt).toBe(day(HORIZON_DAYS));
  });

  it('truncates what is left to 4 decimals', () => {
    // 1 token at 0.0003 a day: 10 days use 0.003 of it, the rest expires.
    const forecast = forecastWallet([lot('L1', 1, 10)], 3n, NOW);
    expect(formatScaled(forecast.projectedUnusedTotal)).toBe('0.997');
    // 7 units a day over 0.5 day leaves 1 − 0.00035: truncated to 0.9996.
    expect(formatScaled(forecastWallet([lot('L1', 1, 0.5)], 7n, NOW).projectedUnusedTotal)).toBe('0.9996');
  });

  it('projected usage lists what each lot gives, stretch by stretch', () => {
    const draws = projectedDraws([lot('A', 100, 100), lot('F', 50, 60, 5)], perDay(10), NOW);
    expect(draws.map((d) => [d.lotId, (d.at - NOW) / DAY_MS, formatScaled(d.amount)])).toEqual([
      ['A', 0, '50'],
      ['F', 5, '50'],
      ['A', 10, '50'],
    ]);
  });
});

describe('the burn rate', () => {
  it('is the usage in the window divided by its days, truncated to 4 decimals', () => {
    expect(formatScaled(burnRatePerDay(tokens(100.0001), 28))).toBe('3.5714');
    expect(burnRatePerDay(0n, 28)).toBe(0n);
    expect(() => burnRatePerDay(1n, 0)).toThrow(RangeError);
  });
});

const team = (id: string) => walletKey('team', id);

describe('suggested moves', () => {
  it('give a team that runs out what another team would let expire', () => {
    // a uses 60 of its 100 before day 30; b runs out on day 10 and could use 100 more by day 30.
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 50, 60)], ratePerDay: perDay(5) },
      ],
      NOW,
    );
    // b draws the moved 40 first (it expires first), then Lb: it runs out 8 days later.
    expect(suggestions).toEqual([
      { from: team('a'), to: team('b'), lotId: 'La', amount: tokens(40), expiresAt: day(30), toRunsOutAtBefore: day(10), toRunsOutAtAfter: day(18) },
    ]);
  });

  it('move no more than the receiver would use before the lot expires', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 5, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    expect(suggestions.map((s) => [s.to, formatScaled(s.amount), (s.toRunsOutAtAfter as number) - NOW])).toEqual([[team('b'), '25', 30 * DAY_MS]]);
  });

  it('serve the team that runs out soonest first, then the next with what is left', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 15, 60)], ratePerDay: perDay(1) },
        { wallet: team('c'), lots: [lot('Lc', 10, 60)], ratePerDay: perDay(1) },
        { wallet: team('d'), lots: [lot('Ld', 50, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    // Of the 40 a lets expire, c (dry on day 10) can use 20 by day 30, b (day 15) 15 more;
    // d runs out on day 50, after La expires.
    expect(suggestions.map((s) => [s.from, s.to, formatScaled(s.amount)])).toEqual([
      [team('a'), team('c'), '20'],
      [team('a'), team('b'), '15'],
    ]);
  });

  it('offer the lots that expire first first', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('late', 100, 40), lot('soon', 100, 20)], ratePerDay: 0n },
        { wallet: team('b'), lots: [], ratePerDay: perDay(3) },
      ],
      NOW,
    );
    // b can use 60 by day 20 and 60 more by day 40.
    expect(suggestions.map((s) => [s.lotId, formatScaled(s.amount)])).toEqual([
      ['soon', '60'],
      ['late', '60'],
    ]);
  });

  it('are none when no team runs out before the wasted lot expires', () => {
    // a lets 40 expire on day 30 (and runs out then); b runs out on day 500.
    expect(
      suggestMoves(
        [
          { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
          { wallet: team('b'), lots: [lot('Lb', 500, 600)], ratePerDay: perDay(1) },
        ],
        NOW,
      ),
    ).toEqual([]);
  });

  it("take from a team's long-lived lot for a team that runs dry before it expires", () => {
    // b lets 440 of Lb expire on day 60; a runs out on day 30 and can use 60 of it by then.
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 500, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    expect(suggestions).toEqual([
      { from: team('b'), to: team('a'), lotId: 'Lb', amount: tokens(60), expiresAt: day(60), toRunsOutAtBefore: day(30), toRunsOutAtAfter: day(60) },
    ]);
  });

  it('do not take from a lot that has not started yet: a move takes only active lots', () => {
    expect(
      suggestMoves(
        [
          { wallet: team('a'), lots: [lot('future', 100, 30, 5)], ratePerDay: 0n },
          { wallet: team('b'), lots: [], ratePerDay: perDay(1) },
        ],
        NOW,
      ),
    ).toEqual([]);
  });
});

// Property tests: the forecast agrees with the real ledger, over the ledger's random histories
// and over random accounts of several teams.

const iso = (ms: number) => new Date(ms).toISOString();
/** Idle, a trickle (at most 0.01 a day), or 1 to 80 a day: lots hold up to 500 and last days or weeks. */
const rateArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 100n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 10_000n, max: 800_000n }) },
);

/** The history as known at `now`: what happened after it is not assumed (voids apply whenever sent). */
const knownAt = (events: RefEvent[], now: number) => events.filter((e) => e.type === 'void' || Date.parse(e.occurred_at) <= now);
const ledgerAt = (events: RefEvent[], at: number): LedgerResult => computeLedger(ledgerInputOf(events, at, 'events'));
const idOf = (wallet: WalletKey) => wallet.slice('team/'.length);
const byLot = (rows: Iterable<{ lotId: string; expiresAt: number; amount: bigint }>) => {
  const sums = new Map<string, bigint>();
  for (const r of rows) sums.set(`${r.lotId}@${r.expiresAt}`, (sums.get(`${r.lotId}@${r.expiresAt}`) ?? 0n) + r.amount);
  return sums;
};

/** A scenario: the accepted events known at `now`, the teams to forecast and their rates. */
interface Scenario {
  known: RefEvent[];
  now: number;
  wallets: WalletKey[];
  rates: bigint[];
}

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
 * new overage; sent to the end, each lot expires with what the forecast leaves in it, give or
 * take the 0.0001 per lot that truncating the draws instead of the remainder leaves on top.
 */
function expectProjectedUsageToMatchTheLedger({ known, now, wallets, rates }: Scenario): number {
  const ledger = ledgerAt(known, now);
  let ranOut = 0;
  for (const { wallet, lots, rate, forecast } of forecastsOf(ledger, { wallets, rates })) {
    const overageNow = ledger.wallets.get(wallet)?.overage ?? 0n;
    const usage: RefEvent[] = projectedDraws(lots, rate, now).map((d, i) => ({
      event_id: `p${String(i).padStart(5, '0')}`,
      type: 'usage',
      account_id: 'acme',
      occurred_at: iso(d.at),
      wallet: { type: 'team', id: idOf(wallet) },
      amount: formatScaled(d.amount),
      user_id: 'forecast',
      product: 'compiler',
    }));
    if (forecast.runsOutAt !== null) {
      const runsOutAt = forecast.runsOutAt;
      if (runsOutAt > now) ranOut++;
      expect(runsOutAt % 1000).toBe(0);
      const atRunOut = ledgerAt([...known, ...usage.filter((u) => Date.parse(u.occurred_at) < runsOutAt)], runsOutAt).wallets.get(wallet);
      expect({ available: atRunOut?.available ?? 0n, overage: atRunOut?.overage ?? 0n }).toEqual({ available: 0n, overage: overageNow });
    }
    const end = Math.max(now, ...lots.map((l) => l.expiresAt).filter((t) => t <= now + HORIZON_DAYS * DAY_MS));
    const after = ledgerAt([...known, ...usage], end);
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

/** The ledger's random histories (three teams) at one of their instants, with a rate per team. */
const historyScenarioArb: fc.Arbitrary<Scenario> = fc
  .tuple(historyArb(), fc.nat(), fc.array(rateArb, { minLength: 3, maxLength: 3 }))
  .map(([history, pick, rates]) => {
    const now = history.instants[pick % history.instants.length] as number;
    return { known: knownAt(history.delivered, now), now, wallets: ['a', 'b', 'c'].map(team), rates };
  });

/**
 * An account of two to six teams at NOW, each with a few lots (some starting later, lot ids
 * shared across and within teams) and some usage behind it, and a rate per team: more teams
 * that waste and teams that run dry than the histories give.
 */
const HOUR = 3_600_000;
const accountScenarioArb: fc.Arbitrary<Scenario> = fc
  .array(
    fc.record({
      rate: rateArb,
      purchases: fc.array(
        fc.record({
          lot: fc.constantFrom('L1', 'L2', 'L3', 'L4'),
          amount: fc.bigInt({ min: 1n, max: 5_000_000n }),
          startHour: fc.integer({ min: -24 * 30, max: 24 * 40 }),
          hours: fc.integer({ min: 1, max: 24 * 90 }),
        }),
        { maxLength: 4 },
      ),
      usage: fc.array(fc.record({ hoursAgo: fc.integer({ min: 0, max: 24 * 30 }), amount: fc.bigInt({ min: 1n, max: 2_000_000n }) }), { maxLength: 3 }),
    }),
    { minLength: 2, maxLength: 6 },
  )
  .map((teams) => {
    const known: RefEvent[] = [];
    teams.forEach((t, w) => {
      const wallet = { type: 'team', id: `w${w}` };
      t.purchases.forEach((p, i) => {
        known.push({
          event_id: `e${w}-p${i}`,
          type: 'purchase',
          account_id: 'acme',
          occurred_at: iso(NOW - 24 * 31 * HOUR),
          effective_at: iso(NOW + p.startHour * HOUR),
          expires_at: iso(NOW + (p.startHour + p.hours) * HOUR),
          wallet,
          lot_id: p.lot,
          amount: formatScaled(p.amount),
        });
      });
      t.usage.forEach((u, i) => {
        known.push({ event_id: `e${w}-u${i}`, type: 'usage', account_id: 'acme', occurred_at: iso(NOW - u.hoursAgo * HOUR), wallet, amount: formatScaled(u.amount), user_id: 'ada', product: 'compiler' });
      });
    });
    return { known, now: NOW, wallets: teams.map((_, w) => team(`w${w}`)), rates: teams.map((t) => t.rate) };
  });

describe('the forecast agrees with the ledger', () => {
  for (const [name, scenarios] of [
    ['1,000 random histories', historyScenarioArb],
    ['1,000 random accounts', accountScenarioArb],
  ] as const) {
    describe(`over ${name}`, () => {
      it('at a rate of 0, every lot with something left expires with all of it', () => {
        fc.assert(fc.property(scenarios, expectIdleWalletsToLetEverythingExpire), { numRuns: 1000 });
      });

      it('projected usage sent as usage events empties the wallet at its run-out without overage, and leaves in each lot what the forecast says', () => {
        let ranOut = 0;
        fc.assert(fc.property(scenarios, (scenario) => void (ranOut += expectProjectedUsageToMatchTheLedger(scenario))), { numRuns: 1000 });
        // Enough of them run out later than now for the check to mean something.
        expect(ranOut).toBeGreaterThan(200);
      });

      it('sending every suggested move lowers the projected unused total by exactly their sum, and no wallet runs out earlier', () => {
        let suggested = 0;
        fc.assert(fc.property(scenarios, (scenario) => void (suggested += expectSuggestedMovesToSaveTheirAmount(scenario))), { numRuns: 1000 });
        expect(suggested).toBeGreaterThan(200);
      });
    });
  }
});
