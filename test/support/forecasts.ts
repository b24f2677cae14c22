import fc from 'fast-check';
import { formatScaled } from '../../core/decimal.js';
import { DAY_MS, walletKey, type WalletKey } from '../../ledger/ledger.js';
import type { ForecastLot } from '../../ledger/forecast.js';
import { historyArb } from './histories.js';
import type { RefEvent } from './reference.js';

/** Forecast examples and scenarios: lots at a fixed `NOW`, random accounts with rates. */
export const NOW = Date.UTC(2026, 2, 1);
export const day = (n: number) => NOW + n * DAY_MS;
/** Tokens to units of 10^-4; a rate per day reads the same. */
export const tokens = (n: number) => BigInt(Math.round(n * 10_000));
export const perDay = tokens;
export const team = (id: string) => walletKey('team', id);
const iso = (ms: number) => new Date(ms).toISOString();

/** A lot bought with everything left, as the ledger would hand it to the forecast. */
export function lot(lotId: string, amount: number, expiresInDays: number, startsInDays = -1): ForecastLot {
  return { lotId, remaining: tokens(amount), effectiveAt: day(startsInDays), expiresAt: day(expiresInDays), originalAmount: tokens(amount), originalEffectiveAt: day(startsInDays) };
}

/** Idle, a trickle (at most 0.01 a day), or 1 to 80 a day: lots hold up to 500 and last days or weeks. */
export const rateArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 100n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 10_000n, max: 800_000n }) },
);

/** A scenario: the accepted events known at `now`, the teams to forecast and their rates. */
export interface Scenario {
  known: RefEvent[];
  now: number;
  wallets: WalletKey[];
  rates: bigint[];
}

/** The history as known at `now`: what happened after it is not assumed (voids apply whenever sent). */
export const knownAt = (events: RefEvent[], now: number) => events.filter((e) => e.type === 'void' || Date.parse(e.occurred_at) <= now);

/** The ledger's random histories (three teams) at one of their instants, with a rate per team. */
export const historyScenarioArb: fc.Arbitrary<Scenario> = fc
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
export const accountScenarioArb: fc.Arbitrary<Scenario> = fc
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
