import { describe, expect, it } from 'vitest';
import { formatScaled } from '../core/decimal.js';
import { DAY_MS } from './ledger.js';
import { burnRatePerDay, forecastWallet, HORIZON_DAYS, projectedDraws, type ForecastLot } from './forecast.js';
import { day, lot, NOW, perDay, tokens } from '../test/support/forecasts.js';

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

  it('a wallet dry for less than a second before its next lot starts has not run out: only whole seconds are checked', () => {
    // 1 token at 7 a day runs dry after 12,342.857 s.
    const second = (s: number) => NOW + s * 1000;
    const startingAt = (s: number): ForecastLot => ({ ...lot('F', 1, 365), effectiveAt: second(s), originalEffectiveAt: second(s) });
    expect(forecastWallet([lot('A', 1, 365), startingAt(12_343)], perDay(7), NOW).runsOutAt).toBe(second(12_343 + 12_343));
    expect(forecastWallet([lot('A', 1, 365), startingAt(12_344)], perDay(7), NOW).runsOutAt).toBe(second(12_343));
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
    expect(draws.map((d) => [d.lotId, (d.at - NOW) / DAY_MS, (d.until - NOW) / DAY_MS, formatScaled(d.amount)])).toEqual([
      ['A', 0, 5, '50'],
      ['F', 5, 10, '50'],
      ['A', 10, 15, '50'],
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
