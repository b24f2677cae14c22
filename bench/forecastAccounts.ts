/**
 * Synthetic wallets for the forecast benchmark: a year and two months of usage with a known
 * pattern, and a contract of lots ordered on the first day. Deterministic: a wallet is its
 * pattern and seed.
 */
import { prng } from '../ingest/demo.js';
import { DAY_MS, walletKey, type LotInput, type UsageEvent, type WalletKey } from '../ledger/ledger.js';

export const PATTERNS = ['steady', 'weekly', 'growth', 'step', 'bursts'] as const;
export type UsagePattern = (typeof PATTERNS)[number];

/** Days of usage replayed; the first day is a Monday. */
export const SPAN_DAYS = 420;
export const START = Date.UTC(2025, 0, 6);
const EVENTS_PER_DAY = 6;

export interface SyntheticWallet {
  pattern: UsagePattern;
  wallet: WalletKey;
  lots: LotInput[];
  /** Usage events, in time order. */
  usage: UsageEvent[];
  /** Usage per day, day 0 first: what each day of `usage` adds up to. */
  daily: bigint[];
}

/**
 * Each day's usage relative to the wallet's base level, before day-to-day noise:
 * - steady: the same every day;
 * - weekly: weekdays heavy (1.3), weekends light (0.25), averaging 1;
 * - growth: compounding, doubling to quadrupling over the span;
 * - step: a change of pace on one day between days 120 and 300, to half or to more than double;
 * - bursts: a light base (0.6) with a burst of 4 to 10 times it starting on 4 % of days and
 *   lasting 1 to 4 days.
 */
function paceOf(pattern: UsagePattern, rand: () => number): (day: number) => number {
  switch (pattern) {
    case 'steady':
      return () => 1;
    case 'weekly':
      return (day) => (day % 7 < 5 ? 1.3 : 0.25);
    case 'growth': {
      const perDay = Math.log(2 + 2 * rand()) / SPAN_DAYS;
      return (day) => Math.exp(perDay * day);
    }
    case 'step': {
      const at = 120 + Math.floor(rand() * 180);
      const factor = rand() < 0.5 ? 0.4 + rand() * 0.2 : 2 + rand() * 0.6;
      return (day) => (day < at ? 1 : factor);
    }
    case 'bursts': {
      const burst = new Array<number>(SPAN_DAYS).fill(0);
      for (let day = 0; day < SPAN_DAYS; day++) {
        if (rand() >= 0.04) continue;
        const size = 4 + rand() * 6;
        const length = 1 + Math.floor(rand() * 4);
        for (let d = day; d < Math.min(SPAN_DAYS, day + length); d++) burst[d] = size;
      }
      return (day) => 0.6 * Math.max(1, burst[day] as number);
    }
  }
}

/**
 * One wallet. Its contract is four quarterly lots, all ordered on day 0 (three start later), each
 * sized for 70–130 % of a quarter at the base level and lasting 120, 180 or 365 days: some run
 * dry before the next starts, some expire with tokens left. So the forecast knows every lot the
 * wallet will get, and what it cannot know is only the usage to come.
 */
export function syntheticWallet(pattern: UsagePattern, seed: number): SyntheticWallet {
  const rand = prng(seed * 7919 + PATTERNS.indexOf(pattern));
  const wallet = walletKey('team', `${pattern}-${seed}`);
  const base = 50 + rand() * 450;
  const lots: LotInput[] = [];
  for (let q = 0; q < 4; q++) {
    const effectiveAt = START + (q === 0 ? 0 : q * 90 + Math.floor(rand() * 21) - 10) * DAY_MS;
    const termDays = [120, 180, 365][Math.floor(rand() * 3)] as number;
    lots.push({
      lotId: `Q${q + 1}`,
      eventId: `${wallet}-lot-${q + 1}`,
      wallet,
      amount: BigInt(Math.round(base * 90 * (0.7 + rand() * 0.6))) * 10_000n,
      occurredAt: START,
      effectiveAt,
      expiresAt: effectiveAt + termDays * DAY_MS,
    });
  }
  const pace = paceOf(pattern, rand);
  const usage: UsageEvent[] = [];
  const daily: bigint[] = [];
  for (let day = 0; day < SPAN_DAYS; day++) {
    const amount = base * pace(day) * (0.8 + rand() * 0.4);
    const shares = Array.from({ length: EVENTS_PER_DAY }, () => 0.2 + rand());
    const sum = shares.reduce((a, b) => a + b, 0);
    const times = shares.map(() => Math.floor(rand() * DAY_MS)).sort((a, b) => a - b);
    let total = 0n;
    shares.forEach((share, e) => {
      const scaled = BigInt(Math.round((amount * share * 10_000) / sum));
      total += scaled;
      usage.push({ wallet, at: START + day * DAY_MS + (times[e] as number), eventId: `${wallet}-u-${day}-${e}`, amount: scaled });
    });
    daily.push(total);
  }
  return { pattern, wallet, lots, usage, daily };
}
