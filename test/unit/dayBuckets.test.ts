import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dayBuckets } from '../../readmodels/dayBuckets.js';

/**
 * A zone's days are found once per span and reused (readmodels/dayBuckets.ts): every range,
 * inside the span found or widening it, gets exactly the local days `Intl` gives, each starting
 * at the first millisecond of its date.
 */
const ZONES = ['Africa/Monrovia', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu', 'Australia/Lord_Howe'];
const YEAR = 365.25 * 86_400_000;

describe('dayBuckets', () => {
  it('cuts any range of any zone at the instants its local date changes, in whatever order ranges come', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: -5 * YEAR, max: 60 * YEAR }), fc.integer({ min: 1, max: 20 * 86_400_000 }), (tz, from, length) => {
        const to = from + length;
        const day = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
        const { labels, starts, of } = dayBuckets(tz, from, to);
        expect(labels[0]).toBe(day.format(from));
        expect(labels[labels.length - 1]).toBe(day.format(to - 1));
        expect(starts).toHaveLength(labels.length - 1);
        starts.forEach((start, i) => {
          expect(day.format(start)).toBe(labels[i + 1]);
          expect(day.format(start - 1)).toBe(labels[i]);
          expect(of(start)).toBe(i + 1);
          expect(of(start - 1)).toBe(i);
        });
      }),
      { numRuns: 300 },
    );
  });
});
