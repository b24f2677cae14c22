import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { burnRatePerDay } from './forecast.js';
import { estimateBurnRate } from './burnRate.js';
import { perDay, tokens } from '../test/support/forecasts.js';

const days = (...amounts: number[]) => amounts.map(tokens);
const weeks = (...perWeek: number[][]) => perWeek.flatMap((week) => days(...week));

describe('burn-rate estimates from usage per day', () => {
  it('the mean is burn_rate_per_day: the window’s usage ÷ its days, truncated to 4 decimals', () => {
    expect(estimateBurnRate(days(10, 0, 0), 'mean')).toBe(tokens(3.3333));
    expect(estimateBurnRate(days(1, 2, 3, 4, 5, 6, 7))).toBe(perDay(4));
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 365 }), (daily) => {
        expect(estimateBurnRate(daily, 'mean')).toBe(burnRatePerDay(daily.reduce((a, b) => a + b, 0n), daily.length));
      }),
    );
  });

  it('the recent-weighted rate counts last week twice as much as the week before it', () => {
    // Four weeks at 10, 10, 10 and then 80 a day: (10 + 20 + 40 + 8 × 80) / 15 = 47.3333.
    const steppedUp = weeks([10, 10, 10, 10, 10, 10, 10], [10, 10, 10, 10, 10, 10, 10], [10, 10, 10, 10, 10, 10, 10], [80, 80, 80, 80, 80, 80, 80]);
    expect(estimateBurnRate(steppedUp, 'ewma')).toBe(tokens(47.3333));
    expect(estimateBurnRate(steppedUp, 'mean')).toBe(tokens(27.5));
  });

  it('a weekly cycle gives the recent-weighted rate its weekly average, whatever the weekday', () => {
    const cycle = [13, 13, 13, 13, 13, 2.5, 2.5];
    for (let shift = 0; shift < 7; shift++) {
      const rotated = [...cycle.slice(shift), ...cycle.slice(0, shift)];
      expect(estimateBurnRate(weeks(rotated, rotated, rotated, rotated), 'ewma')).toBe(perDay(10));
    }
  });

  it('steady usage gives every method the same rate, and a window of any length works', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 1, max: 365 }), (amount, length) => {
        const daily = new Array<bigint>(length).fill(amount);
        expect(estimateBurnRate(daily, 'mean')).toBe(amount);
        expect(estimateBurnRate(daily, 'ewma')).toBe(amount);
      }),
    );
  });

  it('an oldest partial week gets the weight of its week', () => {
    // 9 days: 2 days of week 2 (weight 1) at 30, then 7 days of week 1 (weight 2) at 0.
    expect(estimateBurnRate(days(30, 30, 0, 0, 0, 0, 0, 0, 0), 'ewma')).toBe(tokens(3.75));
  });

  it('refuses an empty window and negative usage', () => {
    expect(() => estimateBurnRate([], 'mean')).toThrow(RangeError);
    expect(() => estimateBurnRate([-1n], 'ewma')).toThrow(RangeError);
  });
});
