import { LRUCache } from 'lru-cache';
import { bound } from './walletUsage.js';

const DAY_MS = 86_400_000;
/** Longer than any local day: 24 hours and the largest change of offset there has been. */
const LONGEST_DAY_MS = 50 * 3_600_000;

/** The local days of a time zone that a range touches: day `i` starts at `starts[i]`. */
export interface DayBuckets {
  labels: string[];
  /** The first instant of each day after the first: `starts[i]` begins day `i + 1`. */
  starts: number[];
  of(t: number): number;
}

/**
 * Days of `tz` over `[from, to)`, as storage's `toDate(t, tz)` cuts them. UTC days are
 * arithmetic. In another zone the local date of an instant comes from `Intl` (the runtime's time
 * zone data), and nothing is assumed of the offsets: a day's start is the first millisecond
 * whose local date is that day's. A day is first tried 24 hours after the last start, which
 * holds on any day without a change of offset; otherwise the start is searched for, halving the
 * span each step. Historical offsets are not whole quarter hours (Monrovia kept −0:44:30 until
 * 1972), and the API accepts dates from 1970.
 */
export function dayBuckets(tz: string, from: number, to: number): DayBuckets {
  if (to <= from) return { labels: [], starts: [], of: () => 0 };
  if (tz === 'UTC') {
    const first = Math.floor(from / DAY_MS);
    const labels: string[] = [];
    for (let d = first; d <= Math.floor((to - 1) / DAY_MS); d++) labels.push(new Date(d * DAY_MS).toISOString().slice(0, 10));
    return { labels, starts: labels.slice(1).map((_, i) => (first + i + 1) * DAY_MS), of: (t) => Math.floor(t / DAY_MS) - first };
  }
  const calendar = calendarOf(tz, from, to);
  // Day `first` of the calendar holds `from`, day `last` holds `to - 1`.
  const first = bound(calendar.starts, calendar.starts.length, from, true);
  const last = bound(calendar.starts, calendar.starts.length, to - 1, true);
  const labels = calendar.labels.slice(first, last + 1);
  const starts = calendar.starts.slice(first, last);
  return {
    labels,
    starts,
    // The day: the number of day starts at or before t.
    of: (t) => bound(starts, starts.length, t, true),
  };
}

/**
 * A zone's days over a span, found once and reused by every range inside it: `labels[i]` is
 * day `i`, `starts[i]` the first instant of day `i + 1`. A range outside the span finds the
 * days again over the wider span, with a month to spare on each side, so a range ending now
 * widens it about once a month.
 */
interface Calendar {
  from: number;
  to: number;
  labels: string[];
  starts: number[];
}

const MARGIN_MS = 31 * DAY_MS;
/** Zones whose calendars are kept, the least recently read dropped first: a label and an instant per day of the span read. */
const calendars = new LRUCache<string, Calendar>({ max: 32 });

function calendarOf(tz: string, from: number, to: number): Calendar {
  const known = calendars.get(tz);
  if (known && known.from <= from && to <= known.to) return known;
  const wider = { from: Math.min(from, known?.from ?? from) - MARGIN_MS, to: Math.max(to, known?.to ?? to) + MARGIN_MS };
  const calendar = { ...wider, ...daysOf(tz, wider.from, wider.to) };
  calendars.set(tz, calendar);
  return calendar;
}

/** The days of `tz` over `[from, to)`, searched as `dayBuckets` says. */
function daysOf(tz: string, from: number, to: number): { labels: string[]; starts: number[] } {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
  const day = (t: number) => format.format(t);
  const last = to - 1;
  /** The first instant after `after` (on `label`'s day) that is not on `label`'s day, if it comes by `last`. */
  const nextStart = (after: number, label: string): number | undefined => {
    const guess = after + DAY_MS;
    if (guess <= last && day(guess) !== label && day(guess - 1) === label) return guess;
    if (day(last) === label) return undefined;
    // day(lo) is `label`'s, day(hi) is not.
    let lo = after;
    let hi = Math.min(last, after + LONGEST_DAY_MS);
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (day(mid) === label) lo = mid;
      else hi = mid;
    }
    return hi;
  };
  const labels = [day(from)];
  const starts: number[] = [];
  for (let start = nextStart(from, labels[0] as string); start !== undefined; start = nextStart(start, labels[labels.length - 1] as string)) {
    starts.push(start);
    labels.push(day(start));
  }
  return { labels, starts };
}
