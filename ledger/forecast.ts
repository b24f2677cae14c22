/**
 * The forecast (SPEC section 5): a wallet's lots as they stand at `now`, run forward at a steady
 * burn rate by the ledger's own rules. Pure, like the ledger: amounts are integers scaled by
 * 10^4, instants epoch milliseconds.
 *
 * Usage is continuous. Rather than stepping through time, the projection walks from breakpoint to
 * breakpoint (a lot starts, a lot expires, the lot being drawn runs dry), so a wallet costs a few
 * steps per lot whatever the rate.
 *
 * Exactness. Between `now` and an instant t (whole milliseconds) usage is R × (t − now) / 1 day,
 * with R the rate in units of 10^-4 per day. Counted in "sub-units" of 10^-4 / 86,400,000 that is
 * the integer R × (t − now), so every amount the projection draws is exact, with no rounding at
 * all inside it. Rounding happens only where a result leaves it:
 * - an amount (`projectedUnused`, a draw) is truncated to 4 decimals;
 * - a lot runs dry at the exact rational instant now + amount / R, which is not always a whole
 *   millisecond; `runsOutAt` is the first instant, among `now` and the whole seconds after it, at
 *   which the projected wallet has nothing available. That is the exact instant rounded up to the
 *   second, except that a gap shorter than that rounding (the wallet runs dry and a lot starts
 *   before the next whole second) is not a run-out: at every whole second the wallet still had
 *   something to draw.
 */
import { DAY_MS, type LedgerResult, type WalletKey } from './ledger.js';

/** How far the projection looks: a run-out or an expiry beyond it is not forecast. */
export const HORIZON_DAYS = 730;

const DAY = BigInt(DAY_MS);
const SECOND_MS = 1000;

/** A lot of one wallet with something left at `now`, as `forecastLotsOf` reads it off the ledger. */
export interface ForecastLot {
  lotId: string;
  remaining: bigint;
  effectiveAt: number;
  expiresAt: number;
  /** Burn-down attributes: the root purchase's amount and effective_at. */
  originalAmount: bigint;
  originalEffectiveAt: number;
}

export interface ExpiringUnused {
  lotId: string;
  expiresAt: number;
  /** What the projection leaves in the lot when it expires, truncated to 4 decimals; > 0. */
  projectedUnused: bigint;
}

export interface WalletForecast {
  /** Instant, or null when the rate is 0 or the wallet does not run out within the horizon. */
  runsOutAt: number | null;
  /** Lots expiring within the horizon that the projection leaves something in, by expiry. */
  expiringUnused: ExpiringUnused[];
  projectedUnusedTotal: bigint;
}

/** Projected usage of one lot over one stretch of time during which that lot alone is drawn. */
export interface ProjectedDraw {
  lotId: string;
  expiresAt: number;
  /** The stretch's start, rounded down to the millisecond. */
  at: number;
  /**
   * The stretch's usage, truncated so that a lot's draws add up to its projected consumption
   * truncated: each is floor(consumed after) − floor(consumed before). A lot drawn dry gets
   * exactly its remaining.
   */
  amount: bigint;
}

/**
 * `burn_rate_per_day`: usage in the window ÷ window days, truncated to 4 decimals. The total is
 * the wallet's own non-voided usage in `[now − windowDays, now)`, scaled by 10^4.
 */
export function burnRatePerDay(usageTotalInWindow: bigint, windowDays: number): bigint {
  if (!Number.isInteger(windowDays) || windowDays <= 0) throw new RangeError(`window_days must be a positive integer, not ${windowDays}`);
  if (usageTotalInWindow < 0n) throw new RangeError('usage in a window cannot be negative');
  return usageTotalInWindow / BigInt(windowDays);
}

/**
 * Each wallet's lots with something left at the ledger's instant, the input of a forecast. Lots
 * are in the ledger's creation order, which is also how two parts of one lot are burnt down.
 */
export function forecastLotsOf(ledger: LedgerResult): Map<WalletKey, ForecastLot[]> {
  const byWallet = new Map<WalletKey, ForecastLot[]>();
  for (const lot of ledger.lots) {
    if (lot.hasExpired || lot.remaining <= 0n || lot.expiresAt <= ledger.at) continue;
    let list = byWallet.get(lot.wallet);
    if (!list) byWallet.set(lot.wallet, (list = []));
    list.push({
      lotId: lot.lotId,
      remaining: lot.remaining,
      effectiveAt: lot.effectiveAt,
      expiresAt: lot.expiresAt,
      originalAmount: lot.originalAmount,
      originalEffectiveAt: lot.originalEffectiveAt,
    });
  }
  return byWallet;
}

/** The forecast of one wallet from `now` at `ratePerDay` (scaled by 10^4). */
export function forecastWallet(lots: readonly ForecastLot[], ratePerDay: bigint, now: number): WalletForecast {
  return project(lots, ratePerDay, now, false).forecast;
}

/**
 * The projection's usage as draws, earliest first, up to the horizon (past `runsOutAt` too,
 * when a later lot starts). Applied as usage events in this order, they consume what the
 * projection says: the real ledger draws each from the lot named.
 */
export function projectedDraws(lots: readonly ForecastLot[], ratePerDay: bigint, now: number): ProjectedDraw[] {
  return project(lots, ratePerDay, now, true).draws;
}

/** Parts of one lot that burn down as one: same lot, same attributes, both active now. */
export function lotKey(lot: ForecastLot): string {
  return `${lot.lotId}\u0001${lot.expiresAt}\u0001${lot.originalAmount}\u0001${lot.originalEffectiveAt}`;
}

/** Earliest expiry, smaller original amount, earlier original effective_at, lot_id (SPEC §3). */
export function compareBurnDown(a: ForecastLot, b: ForecastLot): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  if (a.originalAmount !== b.originalAmount) return a.originalAmount < b.originalAmount ? -1 : 1;
  if (a.originalEffectiveAt !== b.originalEffectiveAt) return a.originalEffectiveAt - b.originalEffectiveAt;
  return a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0;
}

/** A lot inside the projection, amounts in sub-units (× one day in ms). */
export interface ProjectedLot extends ForecastLot {
  key: string;
  left: bigint;
  /** At its expiry, when that is within the horizon: what is left, in sub-units. */
  unused: bigint | null;
  /** The same truncated to 4 decimals (0 when it expires beyond the horizon): `projected_unused`. */
  projectedUnused: bigint;
}

export interface Projection {
  forecast: WalletForecast;
  /** The wallet's lots, parts of one lot merged, in burn-down order. */
  lots: ProjectedLot[];
  /**
   * Stretches with nothing to draw from, as usage levels (sub-units since `now`, R × elapsed ms),
   * ascending and disjoint: usage there would be overage.
   */
  gaps: Array<{ from: bigint; to: bigint }>;
  draws: ProjectedDraw[];
  rate: bigint;
  now: number;
}

/**
 * Lots of one wallet, in burn-down order, with parts of one lot that are both active now merged:
 * they are adjacent in burn-down order and interchangeable, as a move naming the lot takes them.
 */
function normalise(lots: readonly ForecastLot[], now: number): ProjectedLot[] {
  const merged = new Map<string, ProjectedLot>();
  const out: ProjectedLot[] = [];
  for (const lot of lots) {
    if (lot.remaining <= 0n || lot.expiresAt <= now) continue;
    const key = lotKey(lot);
    const activeNow = lot.effectiveAt <= now;
    const same = activeNow ? merged.get(key) : undefined;
    if (same) {
      same.remaining += lot.remaining;
      same.left += lot.remaining * DAY;
      same.effectiveAt = Math.min(same.effectiveAt, lot.effectiveAt);
      continue;
    }
    const projected: ProjectedLot = { ...lot, key, left: lot.remaining * DAY, unused: null, projectedUnused: 0n };
    if (activeNow) merged.set(key, projected);
    out.push(projected);
  }
  return out.sort(compareBurnDown);
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
const ceilToSecond = (ms: number) => Math.ceil(ms / SECOND_MS) * SECOND_MS;

/** The whole projection of one wallet; `withDraws` also lists its usage stretch by stretch. */
export function project(input: readonly ForecastLot[], rate: bigint, now: number, withDraws: boolean): Projection {
  if (rate < 0n) throw new RangeError('a burn rate cannot be negative');
  const lots = normalise(input, now);
  const horizon = now + HORIZON_DAYS * DAY_MS;
  const gaps: Projection['gaps'] = [];
  const draws: ProjectedDraw[] = [];

  // Breakpoints within the horizon: expiries before starts at one instant (a lot is active on
  // [effective_at, expires_at)), then the horizon itself.
  type Breakpoint = { at: number; kind: 0 | 1 | 2; index: number };
  const breakpoints: Breakpoint[] = [];
  const active = new Array<boolean>(lots.length).fill(false);
  lots.forEach((lot, index) => {
    if (lot.effectiveAt <= now) active[index] = true;
    else if (lot.effectiveAt <= horizon) breakpoints.push({ at: lot.effectiveAt, kind: 1, index });
    if (lot.expiresAt <= horizon) breakpoints.push({ at: lot.expiresAt, kind: 0, index });
  });
  breakpoints.push({ at: horizon, kind: 2, index: -1 });
  breakpoints.sort((a, b) => a.at - b.at || a.kind - b.kind || a.index - b.index);

  let runsOutAt: number | null = null;
  /** Usage level since `now`, in sub-units: the projection's clock. */
  let level = 0n;
  /** Where the current stretch with nothing to draw began, if the wallet is in one. */
  let dryFrom: bigint | null = null;
  /** No lot before this index in burn-down order is active with anything left. */
  let cursor = 0;

  /** The first instant checked for a run-out within a dry stretch from `from`: now, or a whole second. */
  const firstCheck = (from: bigint) => (from === 0n ? now : ceilToSecond(now + Number(ceilDiv(from, rate))));
  const endDry = (until: bigint, untilAt: number, inclusive: boolean) => {
    if (dryFrom === null) return;
    const check = firstCheck(dryFrom);
    if (runsOutAt === null && (check < untilAt || (inclusive && check <= untilAt))) runsOutAt = check;
    const last = gaps[gaps.length - 1];
    if (last && last.to === dryFrom) last.to = until;
    else gaps.push({ from: dryFrom, to: until });
    dryFrom = null;
  };

  for (const point of breakpoints) {
    if (rate > 0n) {
      const target = rate * BigInt(point.at - now);
      while (level < target) {
        while (cursor < lots.length && !(active[cursor] && (lots[cursor] as ProjectedLot).left > 0n)) cursor++;
        const lot = lots[cursor];
        if (!lot) {
          dryFrom ??= level;
          level = target;
          break;
        }
        const take = lot.left < target - level ? lot.left : target - level;
        if (withDraws) {
          const consumed = lot.remaining * DAY - lot.left;
          const amount = (consumed + take) / DAY - consumed / DAY;
          if (amount > 0n) draws.push({ lotId: lot.lotId, expiresAt: lot.expiresAt, at: now + Number(level / rate), amount });
        }
        lot.left -= take;
        level += take;
      }
    }
    if (point.kind === 0) {
      const lot = lots[point.index] as ProjectedLot;
      active[point.index] = false;
      lot.unused = lot.left;
      lot.projectedUnused = lot.left / DAY;
    } else if (point.kind === 1) {
      active[point.index] = true;
      if (point.index < cursor) cursor = point.index;
      endDry(level, point.at, false);
    } else if (rate > 0n) {
      // At the horizon: the wallet may have run dry at it, or be dry since before it.
      while (cursor < lots.length && !(active[cursor] && (lots[cursor] as ProjectedLot).left > 0n)) cursor++;
      if (cursor >= lots.length) dryFrom ??= level;
      endDry(level, horizon, true);
    }
  }

  const expiringUnused: ExpiringUnused[] = [];
  let projectedUnusedTotal = 0n;
  // Burn-down order starts with the expiry, so this lists them by expiry.
  for (const lot of lots) {
    if (lot.projectedUnused <= 0n) continue;
    expiringUnused.push({ lotId: lot.lotId, expiresAt: lot.expiresAt, projectedUnused: lot.projectedUnused });
    projectedUnusedTotal += lot.projectedUnused;
  }
  return { forecast: { runsOutAt: rate > 0n ? runsOutAt : null, expiringUnused, projectedUnusedTotal }, lots, gaps, draws, rate, now };
}

/**
 * Usage the wallet would have to leave uncovered before `until`: what a lot active from now to
 * `until` could at most absorb, truncated to 4 decimals.
 */
export function uncoveredBefore(projection: Projection, until: number): bigint {
  const end = projection.rate * BigInt(Math.max(0, until - projection.now));
  let total = 0n;
  for (const gap of projection.gaps) {
    if (gap.from >= end) break;
    total += (gap.to < end ? gap.to : end) - gap.from;
  }
  return total / DAY;
}
