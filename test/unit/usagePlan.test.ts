import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeAdjacent, planMonthsAndDays } from '../../readmodels/usagePlan.js';

const START = Date.UTC(2024, 0, 1);
const SPAN = 3 * 366 * 86_400_000;

describe('a usage range cut into months, days and raw edges', () => {
  it('counts every instant of [from, to) exactly once and nothing outside it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SPAN }),
        fc.integer({ min: 1, max: SPAN }),
        fc.array(fc.integer({ min: -40 * 86_400_000, max: SPAN + 40 * 86_400_000 }), { minLength: 20, maxLength: 60 }),
        fc.integer({ min: -40 * 86_400_000, max: SPAN + 40 * 86_400_000 }),
        (offset, length, probes, nowOffset) => {
          const from = START + offset;
          const to = from + length;
          const pieces = planMonthsAndDays(from, to, START + nowOffset);
          for (const probe of [...probes.map((p) => START + p), from, to - 1, to, from - 1, from + 1, to + 1]) {
            const weight = pieces.filter((p) => p.from <= probe && probe < p.to).reduce((s, p) => s + p.sign, 0);
            expect(weight, new Date(probe).toISOString()).toBe(from <= probe && probe < to ? 1 : 0);
          }
          for (const p of pieces) {
            if (p.kind !== 'raw') expect(p.from % 86_400_000).toBe(0);
            if (p.kind !== 'raw') expect(p.to % 86_400_000).toBe(0);
            const start = new Date(p.from);
            const end = new Date(p.to);
            if (p.kind === 'month') expect([start.getUTCDate(), end.getUTCDate()]).toEqual([1, 1]);
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

  it('a year ending now: the first days from their shorter side, then whole months, this month less the future', () => {
    const now = Date.UTC(2026, 10, 28, 5, 0);
    const pieces = mergeAdjacent(planMonthsAndDays(now - 365 * 86_400_000, now, now));
    expect(pieces.map((p) => [p.kind, new Date(p.from).toISOString().slice(0, 13), new Date(p.to).toISOString().slice(0, 13), p.sign])).toEqual([
      ['day', '2025-11-28T00', '2025-12-01T00', 1],
      ['month', '2025-12-01T00', '2026-12-01T00', 1],
      ['raw', '2025-11-28T00', '2025-11-28T05', -1],
      ['raw', '2026-11-28T05', '2026-12-01T00', -1],
    ]);
  });
});
