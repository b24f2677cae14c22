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
 * Only the current second's answers are held, at most `maxHeld` of them over every account: what
 * it holds is gone a second later, and no run of requests, however they vary, grows it past that.
 * Callers name a request by its parameters as validated, not by its URL's text.
 */
export class SnapshotAnswers {
  private second = Number.NEGATIVE_INFINITY;
  private held = new Map<object, Map<string, { names: unknown; body: string }>>();
  private count = 0;

  constructor(private readonly maxHeld = 64) {}

  /** The answer to `request` from `ledger` (and `names`, when it reads them): computed once per snapshot and second. */
  get(ledger: LedgerResult, names: unknown, request: string, compute: () => string): string {
    const second = Math.floor(ledger.at / 1000);
    if (second > this.second) {
      this.second = second;
      this.held = new Map();
      this.count = 0;
    }
    // A request that read its snapshot in a second already past is answered, not held.
    if (second < this.second) return compute();
    let answers = this.held.get(ledger.wallets);
    const answer = answers?.get(request);
    if (answer !== undefined && answer.names === names) return answer.body;
    const body = compute();
    if (answer !== undefined || this.count < this.maxHeld) {
      if (!answers) this.held.set(ledger.wallets, (answers = new Map()));
      if (answer === undefined) this.count++;
      answers.set(request, { names, body });
    }
    return body;
  }
}
