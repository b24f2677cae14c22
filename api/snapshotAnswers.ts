import type { LedgerResult } from '../ledger/ledger.js';

/**
 * Answers computed from one snapshot of an account, shared within one second of the clock.
 *
 * Invariant: an answer is served only for the snapshot it was computed from (the same
 * `LedgerResult.wallets`, which a recomputation replaces, and the same wallet names), within the
 * second of the clock it was computed in, for the same request. A snapshot's balances hold for
 * every instant until it changes (`BalanceService.current`), and the forecasts it is read with are
 * made per whole second (`ForecastService.current`), so the only difference a repeat could see is
 * the instant it names: it names the first request's, less than a second earlier. A new write,
 * from this process or any other, shows as soon as the snapshot that holds it is served.
 *
 * Nothing is held for a snapshot no longer referenced, and at most `maxPerSecond` answers a
 * snapshot and second, so requests that differ only in their parameters cannot grow it.
 */
export class SnapshotAnswers {
  private readonly bySnapshot = new WeakMap<object, { second: number; answers: Map<string, { names: unknown; body: string }> }>();

  constructor(private readonly maxPerSecond = 256) {}

  /** The answer to `request` from `ledger` (and `names`, when it reads them): computed once per snapshot and second. */
  get(ledger: LedgerResult, names: unknown, request: string, compute: () => string): string {
    const second = Math.floor(ledger.at / 1000);
    let held = this.bySnapshot.get(ledger.wallets);
    if (!held || held.second !== second) {
      held = { second, answers: new Map() };
      this.bySnapshot.set(ledger.wallets, held);
    }
    const answer = held.answers.get(request);
    if (answer !== undefined && answer.names === names) return answer.body;
    const body = compute();
    if (held.answers.size < this.maxPerSecond || answer !== undefined) held.answers.set(request, { names, body });
    return body;
  }
}
