import { describe, expect, it } from 'vitest';
import { formatScaled } from '../core/decimal.js';
import { DAY_MS } from './ledger.js';
import type { ForecastLot } from './forecast.js';
import { suggestMoves } from './suggestions.js';
import { day, lot, NOW, perDay, team, tokens } from '../test/support/forecasts.js';

describe('suggested moves', () => {
  it('give a team that runs out what another team would let expire', () => {
    // a uses 60 of its 100 before day 30; b runs out on day 10 and could use 100 more by day 30.
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 50, 60)], ratePerDay: perDay(5) },
      ],
      NOW,
    );
    // b draws the moved 40 first (it expires first), then Lb: it runs out 8 days later.
    expect(suggestions).toEqual([
      { from: team('a'), to: team('b'), lotId: 'La', amount: tokens(40), expiresAt: day(30), toRunsOutAtBefore: day(10), toRunsOutAtAfter: day(18) },
    ]);
  });

  it('move no more than the receiver would use before the lot expires', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 5, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    expect(suggestions.map((s) => [s.to, formatScaled(s.amount), (s.toRunsOutAtAfter as number) - NOW])).toEqual([[team('b'), '25', 30 * DAY_MS]]);
  });

  it('serve the team that runs out soonest first, then the next with what is left', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 15, 60)], ratePerDay: perDay(1) },
        { wallet: team('c'), lots: [lot('Lc', 10, 60)], ratePerDay: perDay(1) },
        { wallet: team('d'), lots: [lot('Ld', 50, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    // Of the 40 a lets expire, c (dry on day 10) can use 20 by day 30, b (day 15) 15 more;
    // d runs out on day 50, after La expires.
    expect(suggestions.map((s) => [s.from, s.to, formatScaled(s.amount)])).toEqual([
      [team('a'), team('c'), '20'],
      [team('a'), team('b'), '15'],
    ]);
  });

  it('offer the lots that expire first first', () => {
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('late', 100, 40), lot('soon', 100, 20)], ratePerDay: 0n },
        { wallet: team('b'), lots: [], ratePerDay: perDay(3) },
      ],
      NOW,
    );
    // b can use 60 by day 20 and 60 more by day 40.
    expect(suggestions.map((s) => [s.lotId, formatScaled(s.amount)])).toEqual([
      ['soon', '60'],
      ['late', '60'],
    ]);
  });

  it('are none when no team runs out before the wasted lot expires', () => {
    // a lets 40 expire on day 30 (and runs out then); b runs out on day 500.
    expect(
      suggestMoves(
        [
          { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
          { wallet: team('b'), lots: [lot('Lb', 500, 600)], ratePerDay: perDay(1) },
        ],
        NOW,
      ),
    ).toEqual([]);
  });

  it("take from a team's long-lived lot for a team that runs dry before it expires", () => {
    // b lets 440 of Lb expire on day 60; a runs out on day 30 and can use 60 of it by then.
    const suggestions = suggestMoves(
      [
        { wallet: team('a'), lots: [lot('La', 100, 30)], ratePerDay: perDay(2) },
        { wallet: team('b'), lots: [lot('Lb', 500, 60)], ratePerDay: perDay(1) },
      ],
      NOW,
    );
    expect(suggestions).toEqual([
      { from: team('b'), to: team('a'), lotId: 'Lb', amount: tokens(60), expiresAt: day(60), toRunsOutAtBefore: day(30), toRunsOutAtAfter: day(60) },
    ]);
  });

  it('do not take from a lot whose lot_id also names another lot of its team: the move would take from both', () => {
    const twin: ForecastLot = { ...lot('L1', 100, 30), originalAmount: tokens(500) };
    expect(
      suggestMoves(
        [
          { wallet: team('a'), lots: [lot('L1', 100, 30), twin], ratePerDay: 0n },
          { wallet: team('b'), lots: [], ratePerDay: perDay(1) },
        ],
        NOW,
      ),
    ).toEqual([]);
  });

  it('do not take from a lot that has not started yet: a move takes only active lots', () => {
    expect(
      suggestMoves(
        [
          { wallet: team('a'), lots: [lot('future', 100, 30, 5)], ratePerDay: 0n },
          { wallet: team('b'), lots: [], ratePerDay: perDay(1) },
        ],
        NOW,
      ),
    ).toEqual([]);
  });
});
