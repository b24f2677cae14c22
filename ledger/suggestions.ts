/**
 * Suggested moves (SPEC section 5): tokens the projection lets expire in one wallet, moved to a
 * wallet of the same type that runs out before they expire and would use them in time.
 *
 * Suggestions are made one after another, each on the projection with the earlier ones applied:
 * a move takes from the source lot and creates a child in the receiver that keeps the lot's
 * lot_id, expiry and burn-down attributes and is active from now (SPEC section 3). Each is checked
 * on both wallets' projections before it is offered: the source's projected unused total drops by
 * exactly the amount, the receiver's does not change, and neither runs out earlier. So applying
 * them all lowers the account's projected unused total by exactly their sum.
 */
import type { WalletKey } from './ledger.js';
import { compareBurnDown, lotKey, project, uncoveredBefore, type ForecastLot, type Projection } from './forecast.js';

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
  lots: ForecastLot[];
  projection: Projection;
}

/** Whether run-out instant `after` is no earlier than `before`; null is never. */
const noEarlier = (after: number | null, before: number | null) => after === null || (before !== null && after >= before);

/**
 * The suggested moves among wallets of one type in one account, at `now`. Lots are offered
 * earliest expiry first; each goes to the wallets that run out soonest first.
 *
 * Only a lot active now can be moved, and only one its lot_id names unambiguously in its wallet:
 * a move names the lot by lot_id, and two different lots sharing one would both answer.
 */
export function suggestMoves(wallets: readonly WalletForecastInput[], now: number): MoveSuggestion[] {
  const states: WalletState[] = wallets.map((w) => {
    const lots = [...w.lots];
    return { wallet: w.wallet, rate: w.ratePerDay, lots, projection: project(lots, w.ratePerDay, now, false) };
  });

  // Candidates in the order they are offered; each is looked up again when its turn comes,
  // since earlier suggestions change what is left of it and which lots its wallet holds.
  const offers: Array<{ state: WalletState; lot: ForecastLot; key: string }> = [];
  for (const state of states) {
    for (const lot of state.projection.lots) if (lot.projectedUnused > 0n && lot.effectiveAt <= now) offers.push({ state, lot, key: lot.key });
  }
  offers.sort((a, b) => compareBurnDown(a.lot, b.lot) || (a.state.wallet < b.state.wallet ? -1 : a.state.wallet > b.state.wallet ? 1 : 0));

  const suggestions: MoveSuggestion[] = [];
  for (const { state: source, lot, key } of offers) {
    if (!namesOneLot(source.projection, lot.lotId, now)) continue;
    // Each receiver is offered a lot once: it is given all it can use of it, or all that is left.
    const tried = new Set<WalletState>([source]);
    for (;;) {
      const unused = source.projection.lots.find((l) => l.key === key)?.projectedUnused ?? 0n;
      if (unused <= 0n) break;
      const receiver = soonestToRunOut(states, tried, lot.expiresAt);
      if (!receiver) break;
      tried.add(receiver);
      const absorbable = uncoveredBefore(receiver.projection, lot.expiresAt);
      const move = bestMove(source, receiver, lot, key, unused < absorbable ? unused : absorbable, now);
      if (!move) continue;
      suggestions.push({
        from: source.wallet,
        to: receiver.wallet,
        lotId: lot.lotId,
        amount: move.amount,
        expiresAt: lot.expiresAt,
        toRunsOutAtBefore: receiver.projection.forecast.runsOutAt,
        toRunsOutAtAfter: move.receiver.projection.forecast.runsOutAt,
      });
      Object.assign(source, move.source);
      Object.assign(receiver, move.receiver);
    }
  }
  return suggestions;
}

/** Whether a move naming `lotId` takes from one lot of the wallet only (its active parts burn down as one). */
function namesOneLot(projection: Projection, lotId: string, now: number): boolean {
  let count = 0;
  for (const lot of projection.lots) if (lot.lotId === lotId && lot.effectiveAt <= now) count++;
  return count === 1;
}

/** The wallet not yet tried that runs out soonest, before `expiresAt`, with usage left uncovered before it. */
function soonestToRunOut(states: readonly WalletState[], tried: ReadonlySet<WalletState>, expiresAt: number): WalletState | undefined {
  let best: WalletState | undefined;
  for (const state of states) {
    const runsOutAt = state.projection.forecast.runsOutAt;
    if (runsOutAt === null || runsOutAt >= expiresAt || tried.has(state)) continue;
    const bestAt = best?.projection.forecast.runsOutAt as number;
    if (best && (runsOutAt > bestAt || (runsOutAt === bestAt && state.wallet > best.wallet))) continue;
    if (uncoveredBefore(state.projection, expiresAt) > 0n) best = state;
  }
  return best;
}

type Applied = { amount: bigint; source: Pick<WalletState, 'lots' | 'projection'>; receiver: Pick<WalletState, 'lots' | 'projection'> };

/**
 * The move of `amount` from the source lot to the receiver, checked on both projections; when
 * the check fails, the largest smaller amount that passes (the check is monotone in the amount
 * in practice, and guarded either way), or none.
 */
function bestMove(source: WalletState, receiver: WalletState, lot: ForecastLot, key: string, amount: bigint, now: number): Applied | undefined {
  const tryAmount = (x: bigint): Applied | undefined => {
    const sourceLots = withdraw(source.lots, key, x, now);
    const receiverLots = [...receiver.lots, { ...lot, remaining: x, effectiveAt: now }];
    const sourceProjection = project(sourceLots, source.rate, now, false);
    const receiverProjection = project(receiverLots, receiver.rate, now, false);
    const before = { s: source.projection.forecast, r: receiver.projection.forecast };
    const ok =
      sourceProjection.forecast.projectedUnusedTotal === before.s.projectedUnusedTotal - x &&
      receiverProjection.forecast.projectedUnusedTotal === before.r.projectedUnusedTotal &&
      noEarlier(sourceProjection.forecast.runsOutAt, before.s.runsOutAt) &&
      noEarlier(receiverProjection.forecast.runsOutAt, before.r.runsOutAt);
    return ok ? { amount: x, source: { lots: sourceLots, projection: sourceProjection }, receiver: { lots: receiverLots, projection: receiverProjection } } : undefined;
  };
  if (amount <= 0n) return undefined;
  const full = tryAmount(amount);
  if (full) return full;
  let best: Applied | undefined;
  let lo = 1n;
  let hi = amount - 1n;
  while (lo <= hi) {
    const mid = (lo + hi) / 2n;
    const applied = tryAmount(mid);
    if (applied) {
      best = applied;
      lo = mid + 1n;
    } else hi = mid - 1n;
  }
  return best;
}

/** The wallet's lots after a move of `amount` out of the lot with this key, taken as the ledger does: its parts in order. */
function withdraw(lots: readonly ForecastLot[], key: string, amount: bigint, now: number): ForecastLot[] {
  let left = amount;
  const out: ForecastLot[] = [];
  for (const lot of lots) {
    if (left > 0n && lot.effectiveAt <= now && lot.expiresAt > now && lotKey(lot) === key) {
      const take = lot.remaining < left ? lot.remaining : left;
      left -= take;
      if (lot.remaining > take) out.push({ ...lot, remaining: lot.remaining - take });
      continue;
    }
    out.push(lot);
  }
  return out;
}
