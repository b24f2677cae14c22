/**
 * The plan of a usage read, pure: which aligned buckets of the rollups (months, days) and which
 * raw stretches to add or subtract so that their sum is exactly `[from, to)`, chosen by cost. No SQL here: `usage.ts` renders a plan into one query.
 */
export const DAY = 86_400_000;
export const QUARTER = 900_000;
export const ceilTo = (t: number, step: number) => Math.ceil(t / step) * step;
export const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const monthStart = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const nextMonth = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/** Ranges of one sign that touch, joined: each range read costs more than the rows in it. */
export function touchingJoined(ranges: Array<{ from: number; to: number; sign: 1 | -1 }>): Array<{ from: number; to: number; sign: 1 | -1 }> {
  const joined: typeof ranges = [];
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    const last = joined[joined.length - 1];
    if (last && last.sign === r.sign && last.to === r.from) last.to = r.to;
    else joined.push({ from: r.from, to: r.to, sign: r.sign });
  }
  return joined;
}

export interface Piece {
  kind: 'month' | 'day' | 'raw';
  from: number;
  to: number;
  sign: 1 | -1;
}

/**
 * Relative costs of what a plan reads, in units of one day's rollup rows. PIECE_COST: every extra
 * key range costs about 1.2 ms of CPU whatever it holds, as measured with chDB on the balance
 * benchmark's data (10M usage events, 1,000 wallets, 5,000 users); a day's rollup rows cost about
 * ten times less. RAW_DAY_COST: a day of raw events is estimated at four days of rollup rows. The
 * plans compared are equally exact, so a wrong estimate costs speed, never correctness. Raw
 * events after `now` cost nothing but their piece, since only future-dated usage lies there.
 */
const PIECE_COST = 0.1;
const RAW_DAY_COST = 4;
const flip = (p: Piece): Piece => ({ ...p, sign: p.sign === 1 ? -1 : 1 });

/**
 * Cuts `[from, to)` into whole months, whole days and raw events, each added or subtracted,
 * choosing the cheapest reads:
 * - a month mostly covered is read whole, less what lies outside the range, so a range ending
 *   now reads this month's row and subtracts the (usually empty) future;
 * - a partial day is read as raw events, or as the whole day less the raw events outside it,
 *   whichever spans less past time.
 */
export function planMonthsAndDays(from: number, to: number, now = Number.POSITIVE_INFINITY): Piece[] {
  const piece = (kind: Piece['kind'], a: number, b: number): Piece[] => (a >= b ? [] : [{ kind, from: a, to: b, sign: 1 }]);
  const cheaper = (x: Piece[], y: Piece[]) => (planCost(y, now) < planCost(x, now) ? y : x);
  const less = (...parts: Piece[][]) => parts.flat().map(flip);
  /** `[a, b)` within one day. */
  const partOfDay = (a: number, b: number): Piece[] => {
    if (a >= b) return [];
    const d = floorTo(a, DAY);
    if (a === d && b === d + DAY) return piece('day', a, b);
    return cheaper(piece('raw', a, b), [...piece('day', d, d + DAY), ...less(piece('raw', d, a), piece('raw', b, d + DAY))]);
  };
  /** `[a, b)` within one month, from days and raw events, or all raw (as the future is). */
  const exact = (a: number, b: number): Piece[] => {
    if (a >= b) return [];
    const da = ceilTo(a, DAY);
    const db = floorTo(b, DAY);
    if (da > db) return partOfDay(a, b);
    return cheaper([...partOfDay(a, da), ...piece('day', da, db), ...partOfDay(db, b)], piece('raw', a, b));
  };
  const pieces: Piece[] = [];
  for (let ms = monthStart(from); ms < to; ms = nextMonth(ms)) {
    const me = nextMonth(ms);
    const a = Math.max(from, ms);
    const b = Math.min(to, me);
    const month = piece('month', ms, me);
    pieces.push(...(a === ms && b === me ? cheaper(month, piece('raw', ms, me)) : cheaper(exact(a, b), [...month, ...less(exact(ms, a), exact(b, me))])));
  }
  return pieces;
}

/** What a plan reads, in the units of the costs above. */
function planCost(pieces: Piece[], now: number): number {
  const monthsIn = (p: Piece) => {
    const [a, b] = [new Date(p.from), new Date(p.to)];
    return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
  };
  const units = (p: Piece) => {
    switch (p.kind) {
      case 'raw':
        return (RAW_DAY_COST * Math.max(0, Math.min(p.to, now) - p.from)) / DAY;
      case 'day':
        return (p.to - p.from) / DAY;
      case 'month':
        return monthsIn(p);
    }
  };
  return pieces.reduce((sum, p) => sum + PIECE_COST + units(p), 0);
}

/** Rollup pieces of one kind and sign that touch are read as one range; raw pieces stay apart. */
export function mergeAdjacent(pieces: Piece[]): Piece[] {
  const sorted = [...pieces].sort((a, b) => (a.kind === b.kind ? (a.sign === b.sign ? a.from - b.from : a.sign - b.sign) : a.kind < b.kind ? -1 : 1));
  const merged: Piece[] = [];
  for (const piece of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.kind === piece.kind && last.sign === piece.sign && last.to === piece.from && piece.kind !== 'raw') last.to = piece.to;
    else merged.push({ ...piece });
  }
  return merged;
}
