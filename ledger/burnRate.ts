/**
 * Burn-rate estimates from a wallet's usage per day over the forecast's window: the SPEC's mean
 * (the default), and a mean weighted towards recent days. Pure; amounts are integers scaled by
 * 10^4, and a rate is truncated to 4 decimals like `burn_rate_per_day`.
 *
 * Both are constant rates, which is what the projection runs on (`forecastWallet`). A weekday
 * profile is not offered: the default window of 28 days holds four of every weekday, so its
 * average is the mean, and only a projection whose rate varies by weekday could use more of it.
 */
import { burnRatePerDay } from './forecast.js';

export const BURN_RATE_METHODS = ['mean', 'ewma'] as const;
export type BurnRateMethod = (typeof BURN_RATE_METHODS)[number];

/**
 * The recent-weighted mean counts each week half as much as the week after it. Whole weeks share
 * one weight, so a weekly cycle (heavy weekdays, light weekends) does not tilt the rate with the
 * weekday the forecast is made on; weighting day by day does, and measured worse on such usage.
 */
export const EWMA_HALF_LIFE_DAYS = 7;

/** Weights, newest day first: 2^(weeks in the window − the day's week), exact integers. */
function recentWeights(days: number): bigint[] {
  const weeks = Math.ceil(days / EWMA_HALF_LIFE_DAYS);
  return Array.from({ length: days }, (_, k) => 1n << BigInt(weeks - 1 - Math.floor(k / EWMA_HALF_LIFE_DAYS)));
}

/**
 * A wallet's burn rate per day from its usage on each day of the window, oldest first: entry i
 * is the usage in [now − (n − i) days, now − (n − i − 1) days), non-voided, its own (moves are
 * not usage).
 * - `mean`: the window's usage ÷ its days, exactly `burn_rate_per_day` (SPEC section 5).
 * - `ewma`: an exponentially weighted mean, each week (counted back from now) half the weight
 *   of the next; an oldest partial week gets the weight of its week. Truncated to 4 decimals.
 */
export function estimateBurnRate(dailyUsage: readonly bigint[], method: BurnRateMethod = 'mean'): bigint {
  if (dailyUsage.length === 0) throw new RangeError('a burn rate needs at least one day of usage');
  if (dailyUsage.some((u) => u < 0n)) throw new RangeError('usage on a day cannot be negative');
  if (method === 'mean') return burnRatePerDay(dailyUsage.reduce((sum, u) => sum + u, 0n), dailyUsage.length);
  const weights = recentWeights(dailyUsage.length);
  let weighted = 0n;
  let total = 0n;
  for (let k = 0; k < dailyUsage.length; k++) {
    const weight = weights[k] as bigint;
    weighted += weight * (dailyUsage[dailyUsage.length - 1 - k] as bigint);
    total += weight;
  }
  return weighted / total;
}
