import { describe, expect, it } from 'vitest';
import { SnapshotAnswers } from '../../api/snapshotAnswers.js';
import type { LedgerResult } from '../../ledger/ledger.js';

/** A served snapshot: `BalanceService.current` copies the snapshot's result with the instant asked. */
const served = (snapshot: LedgerResult, at: number): LedgerResult => ({ ...snapshot, at });
const snapshot = (): LedgerResult => ({ at: 0, wallets: new Map(), lots: [], tokenEvents: [] }) as unknown as LedgerResult;

describe('SnapshotAnswers', () => {
  it('computes an answer once per snapshot, second and request', () => {
    const answers = new SnapshotAnswers();
    const first = snapshot();
    let computed = 0;
    const answer = (ledger: LedgerResult, request = '/v1/wallets', names: unknown = undefined) =>
      answers.get(ledger, names, request, () => `${request} at ${ledger.at} #${++computed}`);

    expect(answer(served(first, 10_100))).toBe('/v1/wallets at 10100 #1');
    // The same second: the first request's answer, naming its instant.
    expect(answer(served(first, 10_900))).toBe('/v1/wallets at 10100 #1');
    // Another request of the same snapshot and second.
    expect(answer(served(first, 10_950), '/v1/alerts')).toBe('/v1/alerts at 10950 #2');
    // The next second.
    expect(answer(served(first, 11_000))).toBe('/v1/wallets at 11000 #3');
    // A recomputed snapshot, in the same second: a write shows at once.
    expect(answer(served(snapshot(), 11_001))).toBe('/v1/wallets at 11001 #4');
    // Other names of the wallets.
    const names = new Map([['team\u0001a', 'A']]);
    expect(answer(served(first, 11_002), '/v1/wallets', names)).toBe('/v1/wallets at 11002 #5');
    expect(answer(served(first, 11_003), '/v1/wallets', names)).toBe('/v1/wallets at 11002 #5');
  });

  it('holds only the current second: a request that read its snapshot a second earlier is answered, not held', () => {
    const answers = new SnapshotAnswers();
    const first = snapshot();
    let computed = 0;
    const answer = (at: number) => answers.get(served(first, at), undefined, 'alerts', () => `at ${at} #${++computed}`);
    expect(answer(20_100)).toBe('at 20100 #1');
    expect(answer(19_900)).toBe('at 19900 #2');
    expect(answer(19_950)).toBe('at 19950 #3');
    expect(answer(20_500)).toBe('at 20100 #1');
    expect(answer(21_000)).toBe('at 21000 #4');
    expect(answer(20_999)).toBe('at 20999 #5');
  });

  it('keeps at most its bound of answers over every snapshot, and still answers past it', () => {
    const answers = new SnapshotAnswers(2);
    const ledger = served(snapshot(), 5_000);
    let computed = 0;
    const answer = (request: string) => answers.get(ledger, undefined, request, () => `${request} #${++computed}`);
    expect(answer('/a')).toBe('/a #1');
    expect(answer('/b')).toBe('/b #2');
    expect(answer('/c')).toBe('/c #3');
    expect(answer('/c')).toBe('/c #4');
    expect(answer('/a')).toBe('/a #1');
    // Another snapshot counts against the same bound.
    expect(answers.get(served(snapshot(), 5_000), undefined, '/a', () => 'other #5')).toBe('other #5');
    expect(answers.get(served(snapshot(), 5_000), undefined, '/a', () => 'other #6')).toBe('other #6');
  });
});
