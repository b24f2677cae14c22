/**
 * `npm run bench -- forecast`: how far `runs_out_at` lands from when a wallet really ran out.
 *
 * Synthetic wallets with known usage patterns (`forecastAccounts.ts`) are replayed through the
 * real ledger. From each past day (midnight, from day 28 on, while the wallet has something
 * available) the forecast is made as the API makes it: the burn rate over the last 28 days,
 * projected through the wallet's lots by `forecastWallet`. The truth is the first usage event
 * after that instant that found no lot, i.e. overage began, read off the same replay. A forecast
 * made when the wallet never ran out again within the replay has no truth and is left out.
 *
 * The peer is the naive estimate an admin makes in a spreadsheet: available ÷ average daily
 * usage since the first purchase. Both are scored by the absolute error in days, median and p90,
 * per pattern and overall; the recent-weighted rate (`estimateBurnRate(…, 'ewma')`) is scored on
 * the same forecasts.
 */
import { estimateBurnRate, type BurnRateMethod } from '../ledger/burnRate.js';
import { forecastLotsOf, forecastWallet, HORIZON_DAYS } from '../ledger/forecast.js';
import { computeLedger, DAY_MS, type LedgerResult } from '../ledger/ledger.js';
import { PATTERNS, SPAN_DAYS, START, syntheticWallet, type SyntheticWallet, type UsagePattern } from './forecastAccounts.js';
import { fmt, percentile, recordResults, report, stealMeter } from './harness.js';

const WALLETS_PER_PATTERN = 30;
const WINDOW_DAYS = 28;
/** Forecasts whose real run-out is this close are the ones the `runs_out` alert acts on. */
const ALERT_DAYS = 30;
const METHODS = ['mean', 'ewma'] as const satisfies readonly BurnRateMethod[];
type Estimator = BurnRateMethod | 'naive';
const NO_VOIDS: ReadonlySet<string> = new Set();

interface Scored {
  pattern: UsagePattern;
  /** Days from the forecast to the real run-out. */
  leadDays: number;
  errorDays: Record<Estimator, number>;
}

/** The wallet's ledger at `at`, from the events up to it (usage is in time order). */
function ledgerAt(wallet: SyntheticWallet, at: number): LedgerResult {
  let lo = 0;
  let hi = wallet.usage.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((wallet.usage[mid]?.at as number) <= at) lo = mid + 1;
    else hi = mid;
  }
  return computeLedger({ at, lots: wallet.lots, moves: [], usageEvents: wallet.usage.slice(0, lo), usageSegments: [], voided: NO_VOIDS });
}

const overageOf = (ledger: LedgerResult, wallet: SyntheticWallet) => ledger.wallets.get(wallet.wallet)?.overage ?? 0n;

/**
 * When the wallet really ran out after each midnight: the instant of the first usage event after
 * it that found no lot (overage grew), or null when that did not happen within the replay.
 */
function runOuts(wallet: SyntheticWallet, ledgers: LedgerResult[]): Array<number | null> {
  const overage = ledgers.map((l) => overageOf(l, wallet));
  const onsetByDay = new Map<number, number>();
  const onsetOn = (day: number): number => {
    const known = onsetByDay.get(day);
    if (known !== undefined) return known;
    // The day's events, and the first of them after which overage is higher than at midnight.
    const from = START + day * DAY_MS;
    const events = wallet.usage.filter((u) => u.at > from && u.at <= from + DAY_MS);
    let lo = 0;
    let hi = events.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (overageOf(ledgerAt(wallet, (events[mid] as { at: number }).at), wallet) > (overage[day] as bigint)) hi = mid;
      else lo = mid + 1;
    }
    const at = (events[lo] as { at: number }).at;
    onsetByDay.set(day, at);
    return at;
  };
  const truth: Array<number | null> = new Array<number | null>(SPAN_DAYS).fill(null);
  let next: number | null = null;
  for (let day = SPAN_DAYS - 1; day >= 0; day--) {
    if ((overage[day + 1] as bigint) > (overage[day] as bigint)) next = day;
    truth[day] = next === null ? null : onsetOn(next);
  }
  return truth;
}

function scoreWallet(wallet: SyntheticWallet): Scored[] {
  const ledgers = Array.from({ length: SPAN_DAYS + 1 }, (_, day) => ledgerAt(wallet, START + day * DAY_MS));
  const truth = runOuts(wallet, ledgers);
  const scored: Scored[] = [];
  let usedSinceStart = 0n;
  for (let day = 0; day < SPAN_DAYS; day++) {
    const usedBefore = usedSinceStart;
    usedSinceStart += wallet.daily[day] as bigint;
    const ranOutAt = truth[day];
    const available = ledgers[day]?.wallets.get(wallet.wallet)?.available ?? 0n;
    if (day < WINDOW_DAYS || ranOutAt === null || ranOutAt === undefined || available <= 0n) continue;
    const now = START + day * DAY_MS;
    const ledger = ledgers[day] as LedgerResult;
    const lots = forecastLotsOf(ledger).get(wallet.wallet) ?? [];
    const window = wallet.daily.slice(day - WINDOW_DAYS, day);
    const errorDays = {} as Record<Estimator, number>;
    for (const method of METHODS) {
      const runsOutAt = forecastWallet(lots, estimateBurnRate(window, method), now).runsOutAt ?? now + HORIZON_DAYS * DAY_MS;
      errorDays[method] = Math.abs(runsOutAt - ranOutAt) / DAY_MS;
    }
    // Naive: what is available now lasts available ÷ (usage since the first purchase ÷ its days).
    const naiveDays = usedBefore > 0n ? Math.min(HORIZON_DAYS, (Number(available) * day) / Number(usedBefore)) : HORIZON_DAYS;
    errorDays.naive = Math.abs(now + naiveDays * DAY_MS - ranOutAt) / DAY_MS;
    scored.push({ pattern: wallet.pattern, leadDays: (ranOutAt - now) / DAY_MS, errorDays });
  }
  return scored;
}

const stopSteal = stealMeter();
const started = performance.now();
const all: Scored[] = [];
for (const pattern of PATTERNS) {
  for (let seed = 1; seed <= WALLETS_PER_PATTERN; seed++) all.push(...scoreWallet(syntheticWallet(pattern, seed)));
}
const seconds = (performance.now() - started) / 1000;

const errorsOf = (rows: Scored[], estimator: Estimator) => rows.map((r) => r.errorDays[estimator]);
function summary(rows: Scored[]) {
  const figure = (estimator: Estimator, p: number) => fmt(percentile(errorsOf(rows, estimator), p), 2);
  return {
    forecasts: rows.length,
    mean_p50: figure('mean', 50),
    mean_p90: figure('mean', 90),
    ewma_p50: figure('ewma', 50),
    ewma_p90: figure('ewma', 90),
    naive_p50: figure('naive', 50),
    naive_p90: figure('naive', 90),
    'naive ÷ mean p50': fmt(figure('naive', 50) / figure('mean', 50), 2),
    'naive ÷ mean p90': fmt(figure('naive', 90) / figure('mean', 90), 2),
  };
}
const table = (rows: Scored[]) => [...PATTERNS.map((pattern) => ({ pattern, ...summary(rows.filter((r) => r.pattern === pattern)) })), { pattern: 'overall', ...summary(rows) }];

console.log(`${WALLETS_PER_PATTERN} wallets per pattern over ${SPAN_DAYS} days, replayed through the ledger in ${fmt(seconds)} s`);
report('runs_out_at: absolute error in days, 28-day mean (the SPEC) and recent-weighted (ewma) against the naive peer', table(all));
report(`the same, forecasts made within ${ALERT_DAYS} days of the real run-out`, table(all.filter((r) => r.leadDays <= ALERT_DAYS)));
stopSteal();

const overall = summary(all);
recordResults('forecast', {
  wallets: WALLETS_PER_PATTERN * PATTERNS.length,
  forecasts: overall.forecasts,
  median_abs_error_days: overall.mean_p50,
  p90_abs_error_days: overall.mean_p90,
  naive_median_abs_error_days: overall.naive_p50,
  naive_p90_abs_error_days: overall.naive_p90,
  ewma_median_abs_error_days: overall.ewma_p50,
  ewma_p90_abs_error_days: overall.ewma_p90,
  by_pattern: Object.fromEntries(PATTERNS.map((pattern) => [pattern, summary(all.filter((r) => r.pattern === pattern))])),
});
