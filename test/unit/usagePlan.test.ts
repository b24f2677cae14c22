import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planMonthsAndDays } from '../../aggregator/usage.js';

const START = Date.UTC(2024, 0, 1);
const SPAN = 3 * 366 * 86_400_000;

describe('a usage range cut into months, days and raw edges', () => {
  it('counts every instant of [from, to) exactly once and nothing outside it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SPAN }),
        fc.integer({ min: 1, max: SPAN }),
        fc.array(fc.integer({ min: -40 * 86_400_000, max: SPAN + 40 * 86_400_000 }), { minLength: 20, maxLength: 60 }),
        (offset, length, probes) => {
          const from = START + offset;
          const to = from + length;
          const pieces = planMonthsAndDays(from, to);
          for (const probe of [...probes.map((p) => START + p), from, to - 1, to, from - 1]) {
            const weight = pieces.filter((p) => p.from <= probe && probe < p.to).reduce((s, p) => s + p.sign, 0);
            expect(weight, new Date(probe).toISOString()).toBe(from <= probe && probe < to ? 1 : 0);
          }
          for (const p of pieces) {
            if (p.kind !== 'raw') expect(p.from % 86_400_000).toBe(0);
            if (p.kind !== 'raw') expect(p.to % 86_400_000).toBe(0);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads a month whole when the range covers most of it', () => {
    const pieces = planMonthsAndDays(Date.UTC(2026, 0, 1), Date.UTC(2026, 10, 28, 15, 30));
    expect(pieces.filter((p) => p.kind === 'day').every((p) => p.to - p.from <= 3 * 86_400_000)).toBe(true);
    expect(pieces.some((p) => p.kind === 'month' && p.from === Date.UTC(2026, 10, 1) && p.sign === 1)).toBe(true);
  });
});
