/**
 * The ledger: balances as a pure function of the accepted events (SPEC section 3).
 *
 * It does no I/O. ClickHouse feeds it a wallet group's lots, moves and voids, and its usage as
 * sums per segment between breakpoints, plus the few usage events that must be ordered one by
 * one against a move at the same instant. Amounts are integers scaled by 10^4; times are epoch
 * milliseconds.
 */

declare const walletKeyBrand: unique symbol;

/**
 * `team/platform`: a wallet's type and id, the key of everything per wallet. Made only by
 * `walletKey` and read back only by `walletOf`, so no other code spells or splits it.
 */
export type WalletKey = string & { readonly [walletKeyBrand]: true };

/** The key of a wallet. */
export function walletKey(type: string, id: string): WalletKey {
  return `${type}/${id}` as WalletKey;
}

/** A wallet key back to `{ type, id }`; the type never holds a slash, the id may. */
export function walletOf(key: WalletKey): { type: string; id: string } {
  const slash = key.indexOf('/');
  return { type: key.slice(0, slash), id: key.slice(slash + 1) };
}

export interface LotInput {
  lotId: string;
  /** The purchase that created the lot. */
  eventId: string;
  wallet: WalletKey;
  amount: bigint;
  occurredAt: number;
  effectiveAt: number;
  expiresAt: number;
}

export interface MoveInput {
  eventId: string;
  occurredAt: number;
  from: WalletKey;
  to: WalletKey;
  lotId?: string;
  amount?: bigint;
}

/** One usage event, ordered with moves at the same instant by event_id. */
export interface UsageEvent {
  wallet: WalletKey;
  at: number;
  eventId: string;
  amount: bigint;
}

/**
 * All usage of a wallet in `[from, to)` but the events given one by one, where no breakpoint of
 * the wallet lies inside `(from, to)`: the set of active lots is the same for all of it.
 */
export interface UsageSegment {
  wallet: WalletKey;
  from: number;
  to: number;
  amount: bigint;
}

export interface LedgerInput {
  /** The instant to report at. Only events with occurred_at ≤ at are applied. */
  at: number;
  lots: LotInput[];
  moves: MoveInput[];
  usageEvents: UsageEvent[];
  usageSegments: UsageSegment[];
  /** Event ids removed by a void; purchases, moves and usage events among them are ignored. */
  voided: ReadonlySet<string>;
  /**
   * Instants (≤ `at`) at which to report these wallets' balances too, in the same pass
   * (`LedgerResult.checkpoints`). Each counts what happened at or before it, so no usage
   * segment may span one: every `instant + 1` must be a segment boundary. Lots purchased later
   * are left out of a checkpoint's balance, but one backdated to before a checkpoint it was not
   * yet purchased at would have been drawn from already: `balancesAtInstants` runs such
   * checkpoints apart.
   */
  checkpoints?: { wallets: readonly WalletKey[]; instants: readonly number[] };
}

export interface LotState {
  lotId: string;
  wallet: WalletKey;
  /** The purchase at the root of this lot. */
  purchaseEventId: string;
  /** For a lot created by a move, that move. */
  moveEventId?: string;
  amount: bigint;
  consumed: bigint;
  movedOut: bigint;
  expired: bigint;
  remaining: bigint;
  effectiveAt: number;
  expiresAt: number;
  hasExpired: boolean;
  /**
   * Burn-down attributes after expiry: the root purchase's amount and effective_at. A lot moved
   * out keeps them, so a child sorts where its parent did (SPEC section 3).
   */
  originalAmount: bigint;
  originalEffectiveAt: number;
}

export interface WalletBalance {
  wallet: WalletKey;
  total: bigint;
  used: bigint;
  available: bigint;
  status: 'green' | 'red';
  overage: bigint;
  expired: bigint;
  /** Remaining in lots that expire within 90 days of `at`. */
  expiringWithin90d: bigint;
}

export interface TokenEventLot {
  lotId: string;
  amount: bigint;
  expiresAt: number;
}

export interface TokenEvent {
  type: 'purchased' | 'expired' | 'moved_in' | 'moved_out';
  wallet: WalletKey;
  at: number;
  /** The purchase or move behind it; for an expiry, the purchase at the root of the lot. */
  eventId: string;
  amount: bigint;
  lots: TokenEventLot[];
  /** The other wallet of a move. */
  counterparty?: WalletKey;
  /** A move's requested amount, when it named one. */
  requested?: bigint;
  /** What a move asked for and could not take. */
  shortfall?: bigint;
}

export interface LedgerResult {
  at: number;
  lots: LotState[];
  wallets: Map<WalletKey, WalletBalance>;
  tokenEvents: TokenEvent[];
  /** The balances asked for by `LedgerInput.checkpoints`, by instant ascending. */
  checkpoints?: Array<{ at: number; wallets: Map<WalletKey, WalletBalance> }>;
}

export const DAY_MS = 86_400_000;

interface Lot extends Omit<LotState, 'originalAmount' | 'originalEffectiveAt'> {
  /** Burn-down attributes, inherited by every lot moved out of this one. */
  rootAmount: bigint;
  rootEffectiveAt: number;
  /** Creation order: the last tie-break between two parts of the same lot in one wallet. */
  seq: number;
  /** When it came to be: its purchase's occurred_at, or its move's. */
  createdAt: number;
}

/** Burn-down order: earliest expiry, smaller original amount, earlier effective_at, lot_id. */
export function burnDownOrder(a: Lot, b: Lot): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  if (a.rootAmount !== b.rootAmount) return a.rootAmount < b.rootAmount ? -1 : 1;
  if (a.rootEffectiveAt !== b.rootEffectiveAt) return a.rootEffectiveAt - b.rootEffectiveAt;
  if (a.lotId !== b.lotId) return a.lotId < b.lotId ? -1 : 1;
  return a.seq - b.seq;
}

const enum Step {
  Expiry = 0,
  Ordered = 1,
  Segment = 2,
  /** After everything else at its instant: a balance at T counts what happened at T. */
  Checkpoint = 3,
}

type Action =
  | { time: number; step: Step.Expiry; lot: Lot }
  | { time: number; step: Step.Ordered; eventId: string; move: MoveInput }
  | { time: number; step: Step.Ordered; eventId: string; usage: UsageEvent }
  | { time: number; step: Step.Segment; segment: UsageSegment }
  | { time: number; step: Step.Checkpoint };

function compareActions(a: Action, b: Action): number {
  if (a.time !== b.time) return a.time - b.time;
  if (a.step !== b.step) return a.step - b.step;
  if (a.step === Step.Ordered && b.step === Step.Ordered) return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
  return 0;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);

export function computeLedger(input: LedgerInput): LedgerResult {
  const { at, voided } = input;
  const lotsByWallet = new Map<WalletKey, Lot[]>();
  const allLots: Lot[] = [];
  const overage = new Map<WalletKey, bigint>();
  const tokenEvents: TokenEvent[] = [];
  const wallets = new Set<WalletKey>();
  const actions: Action[] = [];
  let seq = 0;

  const walletLots = (wallet: WalletKey) => {
    let list = lotsByWallet.get(wallet);
    if (!list) lotsByWallet.set(wallet, (list = []));
    return list;
  };

  const addLot = (lot: Lot) => {
    const list = walletLots(lot.wallet);
    let i = list.length;
    while (i > 0 && burnDownOrder(list[i - 1] as Lot, lot) > 0) i--;
    list.splice(i, 0, lot);
    allLots.push(lot);
    wallets.add(lot.wallet);
    if (lot.expiresAt <= at) actions.push({ time: lot.expiresAt, step: Step.Expiry, lot });
  };

  for (const purchase of input.lots) {
    if (purchase.occurredAt > at || voided.has(purchase.eventId)) continue;
    addLot({
      lotId: purchase.lotId,
      wallet: purchase.wallet,
      purchaseEventId: purchase.eventId,
      amount: purchase.amount,
      consumed: 0n,
      movedOut: 0n,
      expired: 0n,
      remaining: purchase.amount,
      effectiveAt: purchase.effectiveAt,
      expiresAt: purchase.expiresAt,
      hasExpired: false,
      rootAmount: purchase.amount,
      rootEffectiveAt: purchase.effectiveAt,
      seq: seq++,
      createdAt: purchase.occurredAt,
    });
    tokenEvents.push({
      type: 'purchased',
      wallet: purchase.wallet,
      at: purchase.occurredAt,
      eventId: purchase.eventId,
      amount: purchase.amount,
      lots: [{ lotId: purchase.lotId, amount: purchase.amount, expiresAt: purchase.expiresAt }],
    });
  }
  for (const move of input.moves) {
    if (move.occurredAt > at || voided.has(move.eventId)) continue;
    wallets.add(move.from).add(move.to);
    actions.push({ time: move.occurredAt, step: Step.Ordered, eventId: move.eventId, move });
  }
  for (const usage of input.usageEvents) {
    if (usage.at > at || voided.has(usage.eventId)) continue;
    wallets.add(usage.wallet);
    actions.push({ time: usage.at, step: Step.Ordered, eventId: usage.eventId, usage });
  }
  for (const segment of input.usageSegments) {
    if (segment.from > at || segment.amount === 0n) continue;
    wallets.add(segment.wallet);
    actions.push({ time: segment.from, step: Step.Segment, segment });
  }
  const checkpoints: NonNullable<LedgerResult['checkpoints']> = [];
  for (const instant of input.checkpoints?.instants ?? []) {
    if (instant <= at) actions.push({ time: instant, step: Step.Checkpoint });
  }
  actions.sort(compareActions);

  /** Whether a draw or move may take from this lot at `time`. */
  const drawable = (l: Lot, time: number) => !l.hasExpired && l.effectiveAt <= time && time < l.expiresAt && l.remaining > 0n;
  /** Lots a draw or move may take from at `time`, in burn-down order. */
  const activeLots = (wallet: WalletKey, time: number): Lot[] => (lotsByWallet.get(wallet) ?? []).filter((l) => drawable(l, time));

  const draw = (wallet: WalletKey, time: number, amount: bigint) => {
    let left = amount;
    for (const lot of lotsByWallet.get(wallet) ?? []) {
      if (left === 0n) break;
      // Walks the wallet's lots in place: draws are the hot path, and need no filtered copy.
      if (!drawable(lot, time)) continue;
      const take = min(lot.remaining, left);
      lot.consumed += take;
      lot.remaining -= take;
      left -= take;
    }
    if (left > 0n) overage.set(wallet, (overage.get(wallet) ?? 0n) + left);
  };

  const applyMove = (move: MoveInput) => {
    const time = move.occurredAt;
    const sources = activeLots(move.from, time).filter((l) => move.lotId === undefined || l.lotId === move.lotId);
    let wanted = move.amount;
    const parts: TokenEventLot[] = [];
    let taken = 0n;
    for (const lot of sources) {
      if (wanted !== undefined && wanted === 0n) break;
      const take = wanted === undefined ? lot.remaining : min(lot.remaining, wanted);
      if (take === 0n) continue;
      lot.movedOut += take;
      lot.remaining -= take;
      taken += take;
      if (wanted !== undefined) wanted -= take;
      parts.push({ lotId: lot.lotId, amount: take, expiresAt: lot.expiresAt });
      addLot({
        lotId: lot.lotId,
        wallet: move.to,
        purchaseEventId: lot.purchaseEventId,
        moveEventId: move.eventId,
        amount: take,
        consumed: 0n,
        movedOut: 0n,
        expired: 0n,
        remaining: take,
        effectiveAt: time,
        expiresAt: lot.expiresAt,
        hasExpired: false,
        rootAmount: lot.rootAmount,
        rootEffectiveAt: lot.rootEffectiveAt,
        seq: seq++,
        createdAt: time,
      });
    }
    const shortfall = move.amount !== undefined ? move.amount - taken : undefined;
    const common = {
      at: time,
      eventId: move.eventId,
      amount: taken,
      lots: parts,
      ...(move.amount !== undefined ? { requested: move.amount, shortfall } : {}),
    };
    tokenEvents.push({ type: 'moved_out', wallet: move.from, counterparty: move.to, ...common });
    tokenEvents.push({ type: 'moved_in', wallet: move.to, counterparty: move.from, ...common });
  };

  // Children are added while iterating, so the loop re-reads the length; their expiries are
  // inserted in order behind the current position (a child always expires after it is created).
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i] as Action;
    if (action.step === Step.Expiry) {
      const lot = action.lot;
      lot.expired = lot.remaining;
      lot.remaining = 0n;
      lot.hasExpired = true;
      if (lot.expired > 0n) {
        tokenEvents.push({
          type: 'expired',
          wallet: lot.wallet,
          at: lot.expiresAt,
          eventId: lot.purchaseEventId,
          amount: lot.expired,
          lots: [{ lotId: lot.lotId, amount: lot.expired, expiresAt: lot.expiresAt }],
        });
      }
    } else if (action.step === Step.Segment) {
      draw(action.segment.wallet, action.time, action.segment.amount);
    } else if (action.step === Step.Checkpoint) {
      const balances = new Map<WalletKey, WalletBalance>();
      for (const wallet of input.checkpoints?.wallets ?? []) balances.set(wallet, walletBalance(wallet, lotsByWallet.get(wallet) ?? [], overage.get(wallet) ?? 0n, action.time));
      checkpoints.push({ at: action.time, wallets: balances });
    } else if ('move' in action) {
      const before = actions.length;
      applyMove(action.move);
      if (actions.length > before) {
        const added = actions.splice(before);
        for (const child of added) insertSorted(actions, child, i + 1);
      }
    } else {
      draw(action.usage.wallet, action.time, action.usage.amount);
    }
  }

  const balances = new Map<WalletKey, WalletBalance>();
  for (const wallet of wallets) balances.set(wallet, walletBalance(wallet, lotsByWallet.get(wallet) ?? [], overage.get(wallet) ?? 0n, at));

  return {
    at,
    // In creation order, so within a wallet two parts of one lot keep the order burn-down gives them.
    lots: allLots.map(({ rootAmount, rootEffectiveAt, seq: _s, createdAt: _c, ...lot }) => ({ ...lot, originalAmount: rootAmount, originalEffectiveAt: rootEffectiveAt })),
    wallets: balances,
    tokenEvents,
    ...(input.checkpoints ? { checkpoints } : {}),
  };
}

/** A wallet's balance at `at` from its lots as they stand then; lots created after `at` do not count. */
function walletBalance(wallet: WalletKey, lots: readonly Lot[], overage: bigint, at: number): WalletBalance {
  const horizon = at + 90 * DAY_MS;
  let total = 0n;
  let used = 0n;
  let expired = 0n;
  let expiring = 0n;
  for (const lot of lots) {
    expired += lot.expired;
    if (!lot.hasExpired && lot.remaining > 0n && lot.expiresAt <= horizon && lot.createdAt <= at) expiring += lot.remaining;
    if (lot.effectiveAt <= at && at < lot.expiresAt) {
      total += lot.amount - lot.movedOut;
      used += lot.consumed;
    }
  }
  const available = total - used;
  return {
    wallet,
    total,
    used,
    available,
    // green when available > 20 % of total, computed exactly: 5 × available > total.
    status: available * 5n > total ? 'green' : 'red',
    overage,
    expired,
    expiringWithin90d: expiring,
  };
}

function insertSorted(actions: Action[], action: Action, from: number): void {
  let lo = from;
  let hi = actions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareActions(actions[mid] as Action, action) <= 0) lo = mid + 1;
    else hi = mid;
  }
  actions.splice(lo, 0, action);
}

/**
 * The instants at which a wallet's set of active lots can change: every lot's effective_at and
 * expires_at, every move touching it, and `at`. Moves pass lots on, so every wallet of a group
 * connected by moves gets the expiries of the whole group (a moved lot keeps its expiry).
 */
export function breakpointsByWallet(
  lots: LotInput[],
  moves: MoveInput[],
  at: number,
): { points: Map<WalletKey, number[]>; moveInstants: Map<WalletKey, Set<number>> } {
  const parent = new Map<WalletKey, WalletKey>();
  const find = (w: WalletKey): WalletKey => {
    let root = w;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root) as WalletKey;
    parent.set(w, root);
    return root;
  };
  for (const move of moves) {
    const a = find(move.from);
    const b = find(move.to);
    if (a !== b) parent.set(a, b);
  }
  const groupPoints = new Map<WalletKey, Set<number>>();
  const ownPoints = new Map<WalletKey, Set<number>>();
  const moveInstants = new Map<WalletKey, Set<number>>();
  const add = (map: Map<WalletKey, Set<number>>, key: WalletKey, t: number) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(t);
  };
  for (const lot of lots) {
    add(ownPoints, lot.wallet, lot.effectiveAt);
    add(ownPoints, lot.wallet, lot.expiresAt);
    add(groupPoints, find(lot.wallet), lot.expiresAt);
  }
  for (const move of moves) {
    for (const w of [move.from, move.to]) {
      add(ownPoints, w, move.occurredAt);
      add(moveInstants, w, move.occurredAt);
    }
  }
  const points = new Map<WalletKey, number[]>();
  const walletsSeen = new Set<WalletKey>([...ownPoints.keys()]);
  for (const wallet of walletsSeen) {
    const set = new Set(ownPoints.get(wallet) ?? []);
    if (parent.has(wallet)) for (const t of groupPoints.get(find(wallet)) ?? []) set.add(t);
    set.add(at);
    points.set(wallet, [...set].sort((a, b) => a - b));
  }
  return { points, moveInstants };
}

/**
 * Splits usage events into what the ledger needs: one sum per segment between breakpoints,
 * and the events at a move instant one by one. The SQL that feeds the ledger from rollups does
 * the same; this version serves tests and small inputs.
 */
export function segmentUsage(
  usage: UsageEvent[],
  breakpoints: ReturnType<typeof breakpointsByWallet>,
): { usageEvents: UsageEvent[]; usageSegments: UsageSegment[] } {
  const usageEvents: UsageEvent[] = [];
  const sums = new Map<string, UsageSegment>();
  for (const event of usage) {
    if (breakpoints.moveInstants.get(event.wallet)?.has(event.at)) {
      usageEvents.push(event);
      continue;
    }
    const points = breakpoints.points.get(event.wallet) ?? [];
    // Segment k is [points[k-1], points[k]): the number of breakpoints at or before the event.
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) <= event.at) lo = mid + 1;
      else hi = mid;
    }
    const from = lo === 0 ? Number.MIN_SAFE_INTEGER : (points[lo - 1] as number);
    const to = lo === points.length ? Number.MAX_SAFE_INTEGER : (points[lo] as number);
    const key = `${event.wallet}\u0001${lo}`;
    const segment = sums.get(key);
    if (segment) segment.amount += event.amount;
    else sums.set(key, { wallet: event.wallet, from, to, amount: event.amount });
  }
  return { usageEvents, usageSegments: [...sums.values()] };
}
