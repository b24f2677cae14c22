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

/**
 * Projected usage of one lot over one stretch of time during which that lot alone is drawn,
 * evenly: between stretches, the wallet's available falls in straight lines.
 */
export interface ProjectedDraw {
  lotId: string;
  expiresAt: number;
  /** The stretch's start, rounded down to the millisecond. */
  at: number;
  /** The stretch's end, rounded up to the millisecond. */
  until: number;
  /**
   * The stretch's usage, truncated so that a lot's draws add up to its projected consumption
   * truncated: each is floor(consumed after) − floor(consumed before), which may be 0. A lot
   * drawn dry gets exactly its remaining.
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

/**
 * The forecast of one wallet from `now` at `ratePerDay` (scaled by 10^4); `now` is the instant
 * its lots were read at (the ledger's `at`), best a whole second, as every instant answered is.
 */
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

/** Whether two lots are parts of one: a move keeps the lot_id, expiry and burn-down attributes. */
export function sameLot(a: ForecastLot, b: ForecastLot): boolean {
  return a.lotId === b.lotId && a.expiresAt === b.expiresAt && a.originalAmount === b.originalAmount && a.originalEffectiveAt === b.originalEffectiveAt;
}

/** Earliest expiry, smaller original amount, earlier original effective_at, lot_id (SPEC §3). */
export function compareBurnDown(a: ForecastLot, b: ForecastLot): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  if (a.originalAmount !== b.originalAmount) return a.originalAmount < b.originalAmount ? -1 : 1;
  if (a.originalEffectiveAt !== b.originalEffectiveAt) return a.originalEffectiveAt - b.originalEffectiveAt;
  return a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0;
}

/**
 * A wallet's lots ready to project from `now`: in burn-down order, with parts of one lot that
 * are both active now merged (they are adjacent in burn-down order and interchangeable, and a
 * move naming the lot takes them as one).
 */
export interface WalletLots {
  now: number;
  lots: readonly ForecastLot[];
}

export function prepareLots(input: readonly ForecastLot[], now: number): WalletLots {
  const lots: ForecastLot[] = [];
  /** lot_ids of the lots active now, to spot a second part of one: rare, as it takes a move back. */
  const activeIds = new Set<string>();
  for (const lot of input) {
    if (lot.remaining <= 0n || lot.expiresAt <= now) continue;
    if (lot.effectiveAt <= now) {
      const same = !activeIds.has(lot.lotId) ? -1 : lots.findIndex((l) => l.effectiveAt <= now && sameLot(l, lot));
      if (same >= 0) {
        const part = lots[same] as ForecastLot;
        lots[same] = { ...part, remaining: part.remaining + lot.remaining, effectiveAt: Math.min(part.effectiveAt, lot.effectiveAt) };
        continue;
      }
      activeIds.add(lot.lotId);
    }
    lots.push(lot);
  }
  return { now, lots: lots.sort(compareBurnDown) };
}

export interface Projection {
  forecast: WalletForecast;
  wallet: WalletLots;
  /** Per lot of `wallet.lots`: what is left at its expiry in sub-units, or null beyond the horizon. */
  unused: Array<bigint | null>;
  /** Per lot: `projected_unused`, that truncated to 4 decimals (0 beyond the horizon). */
  projectedUnused: bigint[];
  /**
   * Stretches with nothing to draw from, as usage levels (sub-units since `now`, R × elapsed ms),
   * ascending and disjoint: usage there would be overage.
   */
  gaps: Array<{ from: bigint; to: bigint }>;
  draws: ProjectedDraw[];
  rate: bigint;
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
const ceilToSecond = (ms: number) => Math.ceil(ms / SECOND_MS) * SECOND_MS;

/** The whole projection of one wallet; `withDraws` also lists its usage stretch by stretch. */
export function project(lots: readonly ForecastLot[], rate: bigint, now: number, withDraws: boolean): Projection {
  return projectLots(prepareLots(lots, now), rate, withDraws);
}

export function projectLots(wallet: WalletLots, rate: bigint, withDraws: boolean): Projection {
  if (rate < 0n) throw new RangeError('a burn rate cannot be negative');
  return new ProjectionRun(wallet, rate, withDraws).run();
}

/** One projection's state while it walks from breakpoint to breakpoint. */
class ProjectionRun {
  private readonly lots: readonly ForecastLot[];
  private readonly now: number;
  private readonly horizon: number;
  /** Per lot: what is left, in sub-units; whether it is active. */
  private readonly left: bigint[];
  private readonly active: boolean[];
  private readonly gaps: Projection['gaps'] = [];
  private readonly draws: ProjectedDraw[] = [];
  private runsOutAt: number | null = null;
  /** Usage level since `now`, in sub-units: the projection's clock. */
  private level = 0n;
  /** Where the current stretch with nothing to draw began, if the wallet is in one. */
  private dryFrom: bigint | null = null;
  /** No lot before this index in burn-down order is active with anything left. */
  private cursor = 0;

  constructor(
    private readonly wallet: WalletLots,
    private readonly rate: bigint,
    private readonly withDraws: boolean,
  ) {
    this.lots = wallet.lots;
    this.now = wallet.now;
    this.horizon = wallet.now + HORIZON_DAYS * DAY_MS;
    this.left = [];
    this.active = [];
    for (const lot of this.lots) {
      this.left.push(lot.remaining * DAY);
      this.active.push(lot.effectiveAt <= this.now);
    }
  }

  run(): Projection {
    const { lots, active, left, rate, horizon } = this;
    const count = lots.length;
    const unused = new Array<bigint | null>(count).fill(null);
    // Breakpoints: expiries come in burn-down order already (it starts with the expiry); starts
    // are sorted here. At one instant expiries go first, as a lot is active on [effective_at,
    // expires_at); the horizon ends it.
    const starts: number[] = [];
    for (let i = 0; i < count; i++) if (!active[i] && (lots[i] as ForecastLot).effectiveAt <= horizon) starts.push(i);
    if (starts.length > 1) starts.sort((a, b) => (lots[a] as ForecastLot).effectiveAt - (lots[b] as ForecastLot).effectiveAt || a - b);

    let nextExpiry = 0;
    let nextStart = 0;
    for (;;) {
      const expiryAt = nextExpiry < count ? (lots[nextExpiry] as ForecastLot).expiresAt : Infinity;
      const startAt = nextStart < starts.length ? (lots[starts[nextStart] as number] as ForecastLot).effectiveAt : Infinity;
      const at = Math.min(expiryAt, startAt, horizon);
      if (rate > 0n) this.drawUntil(at);
      if (expiryAt === at) {
        active[nextExpiry] = false;
        unused[nextExpiry] = left[nextExpiry] as bigint;
        nextExpiry++;
      } else if (startAt === at) {
        const index = starts[nextStart++] as number;
        active[index] = true;
        if (index < this.cursor) this.cursor = index;
        this.endDry(at, false);
      } else {
        // At the horizon: the wallet may have run dry at it, or be dry since before it.
        if (rate > 0n) {
          if (this.skipToDrawable() >= count) this.dryFrom ??= this.level;
          this.endDry(horizon, true);
        }
        break;
      }
    }

    const projectedUnused = unused.map((u) => (u === null ? 0n : u / DAY));
    const forecast = forecastOf(this.wallet, projectedUnused, rate > 0n ? this.runsOutAt : null);
    return { forecast, wallet: this.wallet, unused, projectedUnused, gaps: this.gaps, draws: this.draws, rate };
  }

  /** The first lot in burn-down order that is active with anything left, or the lot count. */
  private skipToDrawable(): number {
    const { active, left } = this;
    while (this.cursor < active.length && !(active[this.cursor] && (left[this.cursor] as bigint) > 0n)) this.cursor++;
    return this.cursor;
  }

  /** Usage up to `at` from the active lots, burn-down order first; none of them starts or expires before it. */
  private drawUntil(at: number): void {
    const target = this.rate * BigInt(at - this.now);
    while (this.level < target) {
      const index = this.skipToDrawable();
      const lot = this.lots[index];
      if (!lot) {
        this.dryFrom ??= this.level;
        this.level = target;
        return;
      }
      const before = this.left[index] as bigint;
      const take = before < target - this.level ? before : target - this.level;
      if (this.withDraws) {
        const consumed = lot.remaining * DAY - before;
        this.draws.push({
          lotId: lot.lotId,
          expiresAt: lot.expiresAt,
          at: this.now + Number(this.level / this.rate),
          until: this.now + Number(ceilDiv(this.level + take, this.rate)),
          amount: (consumed + take) / DAY - consumed / DAY,
        });
      }
      this.left[index] = before - take;
      this.level += take;
    }
  }

  /**
   * A dry stretch ends (a lot starts) at `untilAt`, or the horizon is reached. It is a run-out
   * when it holds one of the instants checked: now, or a whole second.
   */
  private endDry(untilAt: number, inclusive: boolean): void {
    const from = this.dryFrom;
    if (from === null) return;
    const check = from === 0n ? this.now : ceilToSecond(this.now + Number(ceilDiv(from, this.rate)));
    if (this.runsOutAt === null && (check < untilAt || (inclusive && check <= untilAt))) this.runsOutAt = check;
    const last = this.gaps[this.gaps.length - 1];
    if (last && last.to === from) last.to = this.level;
    else this.gaps.push({ from, to: this.level });
    this.dryFrom = null;
  }
}

/** The forecast's answer, from what the projection leaves in each lot. */
export function forecastOf(wallet: WalletLots, projectedUnused: readonly bigint[], runsOutAt: number | null): WalletForecast {
  const expiringUnused: ExpiringUnused[] = [];
  let projectedUnusedTotal = 0n;
  // Burn-down order starts with the expiry, so this lists them by expiry.
  wallet.lots.forEach((lot, i) => {
    const amount = projectedUnused[i] as bigint;
    if (amount <= 0n) return;
    expiringUnused.push({ lotId: lot.lotId, expiresAt: lot.expiresAt, projectedUnused: amount });
    projectedUnusedTotal += amount;
  });
  return { runsOutAt, expiringUnused, projectedUnusedTotal };
}

/**
 * Usage the wallet would have to leave uncovered before `until`: what a lot active from now to
 * `until` could at most absorb, truncated to 4 decimals.
 */
export function uncoveredBefore(projection: Projection, until: number): bigint {
  const end = projection.rate * BigInt(Math.max(0, until - projection.wallet.now));
  let total = 0n;
  for (const gap of projection.gaps) {
    if (gap.from >= end) break;
    total += (gap.to < end ? gap.to : end) - gap.from;
  }
  return total / DAY;
}
