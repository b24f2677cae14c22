/**
 * Suggested moves (SPEC section 5): tokens the projection lets expire in one wallet, moved to a
 * wallet of the same type that runs out before they expire and would use them in time.
 *
 * Suggestions are made one after another, each on the projection with the earlier ones applied:
 * a move takes from the source lot and creates a child in the receiver that keeps the lot's
 * lot_id, expiry and burn-down attributes and is active from now (SPEC section 3).
 *
 * Why the sum is exact: a move takes at most what the source lot is projected to leave unused,
 * so the source draws as before and only that lot's unused amount drops, by the amount. The
 * receiver gets at most the usage it would leave uncovered before the lot expires, which it uses
 * in full; its projection is recomputed and checked (its unused total unchanged, its run-out no
 * earlier) before the suggestion is made. So applying them all, in order, lowers the account's
 * projected unused total by exactly their sum, and no wallet runs out earlier.
 */
import { DAY_MS, type WalletKey } from './ledger.js';
import { compareBurnDown, forecastOf, HORIZON_DAYS, prepareLots, projectLots, sameLot, uncoveredBefore, type ForecastLot, type Projection, type WalletLots } from './forecast.js';

export interface WalletForecastInput {
  wallet: WalletKey;
  /** Its lots with something left now (`forecastLotsOf`). */
  lots: readonly ForecastLot[];
  /** `burn_rate_per_day`, scaled by 10^4. */
  ratePerDay: bigint;
}

export interface MoveSuggestion {
  from: WalletKey;
  to: WalletKey;
  lotId: string;
  /** Scaled by 10^4; the `amount` of the move event to send, with `lot_id`. */
  amount: bigint;
  expiresAt: number;
  toRunsOutAtBefore: number | null;
  toRunsOutAtAfter: number | null;
}

interface WalletState {
  wallet: WalletKey;
  rate: bigint;
  projection: Projection;
  /** The last offer this wallet was tried for as a receiver (or is the source of). */
  triedFor: number;
}

/** Whether run-out instant `after` is no earlier than `before`; null is never. */
const noEarlier = (after: number | null, before: number | null) => after === null || (before !== null && after >= before);
const DAY = BigInt(DAY_MS);

/**
 * The suggested moves among wallets of one type in one account, at `now`. Lots are offered
 * earliest expiry first; each goes to the wallets that run out soonest first.
 *
 * Only a lot active now can be moved, and only one its lot_id names unambiguously in its wallet:
 * a move names the lot by lot_id, and two different lots sharing one would both answer.
 */
export function suggestMoves(wallets: readonly WalletForecastInput[], now: number): MoveSuggestion[] {
  const states: WalletState[] = wallets.map((w) => ({ wallet: w.wallet, rate: w.ratePerDay, projection: projectLots(prepareLots(w.lots, now), w.ratePerDay, false), triedFor: -1 }));
  const receivers = new Receivers(states);

  // Candidates in the order they are offered; each is looked up again when its turn comes,
  // since earlier suggestions change what is left of it and which lots its wallet holds.
  const offers: Array<{ state: WalletState; lot: ForecastLot }> = [];
  for (const state of states) {
    state.projection.wallet.lots.forEach((lot, i) => {
      if ((state.projection.projectedUnused[i] as bigint) > 0n && lot.effectiveAt <= now) offers.push({ state, lot });
    });
  }
  offers.sort((a, b) => compareBurnDown(a.lot, b.lot) || (a.state.wallet < b.state.wallet ? -1 : a.state.wallet > b.state.wallet ? 1 : 0));

  const suggestions: MoveSuggestion[] = [];
  for (const [offer, { state: source, lot }] of offers.entries()) {
    if (!namesOneLot(source.projection.wallet, lot.lotId, now)) continue;
    // Each receiver is offered a lot once: it is given all it can use of it, or all that is left.
    source.triedFor = offer;
    for (;;) {
      const index = source.projection.wallet.lots.findIndex((l) => sameLot(l, lot));
      const unused = source.projection.projectedUnused[index] ?? 0n;
      if (unused <= 0n) break;
      const found = receivers.soonestToRunOut(lot.expiresAt, offer);
      if (!found) break;
      const { receiver, uncovered } = found;
      receiver.triedFor = offer;
      const given = give(receiver, lot, unused < uncovered ? unused : uncovered, now);
      if (!given) continue;
      suggestions.push({
        from: source.wallet,
        to: receiver.wallet,
        lotId: lot.lotId,
        amount: given.amount,
        expiresAt: lot.expiresAt,
        toRunsOutAtBefore: receiver.projection.forecast.runsOutAt,
        toRunsOutAtAfter: given.projection.forecast.runsOutAt,
      });
      source.projection = withdrawn(source.projection, index, given.amount);
      receivers.update(receiver, given.projection);
    }
  }
  return suggestions;
}

/** Whether a move naming `lotId` takes from one lot of the wallet only (its active parts burn down as one). */
function namesOneLot(wallet: WalletLots, lotId: string, now: number): boolean {
  let count = 0;
  for (const lot of wallet.lots) if (lot.lotId === lotId && lot.effectiveAt <= now) count++;
  return count === 1;
}

/**
 * Wallets that could take a lot: they run out within the horizon and leave some usage uncovered
 * in it (a wallet dry for a moment only may leave less than 0.0001), soonest run-out first.
 */
class Receivers {
  private readonly byRunOut: WalletState[];

  constructor(states: readonly WalletState[]) {
    this.byRunOut = states.filter(Receivers.couldTake).sort(Receivers.order);
  }

  private static couldTake(state: WalletState): boolean {
    const { forecast, wallet } = state.projection;
    return forecast.runsOutAt !== null && uncoveredBefore(state.projection, wallet.now + HORIZON_DAYS * DAY_MS) > 0n;
  }

  private static order(a: WalletState, b: WalletState): number {
    const at = (a.projection.forecast.runsOutAt as number) - (b.projection.forecast.runsOutAt as number);
    return at || (a.wallet < b.wallet ? -1 : a.wallet > b.wallet ? 1 : 0);
  }

  /** The wallet not yet tried that runs out soonest, before `expiresAt`, and usage it leaves uncovered before then. */
  soonestToRunOut(expiresAt: number, offer: number): { receiver: WalletState; uncovered: bigint } | undefined {
    for (const receiver of this.byRunOut) {
      if ((receiver.projection.forecast.runsOutAt as number) >= expiresAt) return undefined;
      if (receiver.triedFor === offer) continue;
      const uncovered = uncoveredBefore(receiver.projection, expiresAt);
      if (uncovered > 0n) return { receiver, uncovered };
    }
    return undefined;
  }

  /** A receiver's new projection: it keeps its place among the others by run-out. */
  update(state: WalletState, projection: Projection): void {
    // A receiver was found in the list.
    this.byRunOut.splice(this.position(state), 1);
    state.projection = projection;
    if (Receivers.couldTake(state)) this.byRunOut.splice(this.position(state), 0, state);
  }

  /** Where `state` is, or would go, in the list. */
  private position(state: WalletState): number {
    let lo = 0;
    let hi = this.byRunOut.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Receivers.order(this.byRunOut[mid] as WalletState, state) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The receiver's projection with a child of the lot holding `amount`, checked: the receiver's
 * projected unused total does not change (it uses all of it in time) and it runs out no
 * earlier. When the check fails, the largest smaller amount that passes, or none. (`amount` is
 * what the receiver leaves uncovered before the lot expires, which it can use in full; the
 * check guards the guarantee all the same.)
 */
function give(receiver: WalletState, lot: ForecastLot, amount: bigint, now: number): { amount: bigint; projection: Projection } | undefined {
  const before = receiver.projection.forecast;
  const tryAmount = (x: bigint) => {
    const projection = projectLots(withChild(receiver.projection.wallet, lot, x, now), receiver.rate, false);
    const ok = projection.forecast.projectedUnusedTotal === before.projectedUnusedTotal && noEarlier(projection.forecast.runsOutAt, before.runsOutAt);
    return ok ? { amount: x, projection } : undefined;
  };
  if (amount <= 0n) return undefined;
  const full = tryAmount(amount);
  if (full) return full;
  let best: { amount: bigint; projection: Projection } | undefined;
  let lo = 1n;
  let hi = amount - 1n;
  while (lo <= hi) {
    const mid = (lo + hi) / 2n;
    const given = tryAmount(mid);
    if (given) {
      best = given;
      lo = mid + 1n;
    } else hi = mid - 1n;
  }
  return best;
}

/**
 * The receiver's lots after a move creates a child of `lot` holding `amount`: active from now,
 * with the lot's expiry and burn-down attributes, so one with a part of that lot active now.
 */
function withChild(wallet: WalletLots, lot: ForecastLot, amount: bigint, now: number): WalletLots {
  const lots = [...wallet.lots];
  const same = lots.findIndex((l) => l.effectiveAt <= now && sameLot(l, lot));
  if (same >= 0) {
    const part = lots[same] as ForecastLot;
    lots[same] = { ...part, remaining: part.remaining + amount };
  } else {
    // Created last, so after any lot it ties with in burn-down order.
    let at = lots.length;
    while (at > 0 && compareBurnDown(lots[at - 1] as ForecastLot, lot) > 0) at--;
    lots.splice(at, 0, { ...lot, remaining: amount, effectiveAt: now });
  }
  return { now: wallet.now, lots };
}

/**
 * The source's projection after a move of `amount` out of lot `index`, which the projection
 * leaves at least that much unused: the lot is drawn exactly as before (it still holds something
 * whenever it is drawn before it expires, or runs dry exactly then), so every other lot, every
 * dry stretch and the run-out stay as they were, and only this lot's unused amount drops.
 */
function withdrawn(projection: Projection, index: number, amount: bigint): Projection {
  const lots = [...projection.wallet.lots];
  const lot = lots[index] as ForecastLot;
  lots[index] = { ...lot, remaining: lot.remaining - amount };
  const wallet = { now: projection.wallet.now, lots };
  const unused = [...projection.unused];
  unused[index] = (unused[index] as bigint) - amount * DAY;
  const projectedUnused = [...projection.projectedUnused];
  projectedUnused[index] = (projectedUnused[index] as bigint) - amount;
  return { ...projection, wallet, unused, projectedUnused, forecast: forecastOf(wallet, projectedUnused, projection.forecast.runsOutAt) };
}
