import fc from 'fast-check';
import type { LedgerInput, LotInput, MoveInput, UsageEvent } from '../../ledger/ledger.js';
import { breakpointsByWallet, segmentUsage, walletKey } from '../../ledger/ledger.js';
import { units, type RefEvent } from './reference.js';

/** Random histories for property tests: few wallets and a coarse clock, so instants collide. */
export const BASE = Date.UTC(2026, 0, 1);
export const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const WALLETS = ['a', 'b', 'c'];
const LOT_IDS = ['L1', 'L2', 'L3'];

/** A few shared expiry instants, so lots often tie on expiry and fall to the next rule. */
const EXPIRIES = [24 * 5, 24 * 10, 24 * 15, 24 * 30];
const amountArb = fc
  .tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 9999 }), fc.boolean())
  .map(([whole, frac, round]) => (round ? String(whole + 1) : `${whole}.${String(frac).padStart(4, '0')}`))
  .filter((a) => units(a) > 0n);
const hourArb = fc.integer({ min: 0, max: 24 * 20 });
const walletArb = fc.constantFrom(...WALLETS);

type Draft =
  | { type: 'purchase'; wallet: string; amount: string; at: number; effective?: number; expiry: number; lot?: string }
  | { type: 'usage'; wallet: string; amount: string; at: number; user: string }
  | { type: 'move'; from: string; to: string; at: number; amount?: string; lot?: string }
  | { type: 'void'; target: number; at: number };

const draftArb: fc.Arbitrary<Draft> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('purchase' as const), wallet: walletArb, amount: fc.oneof(amountArb, fc.constantFrom('50', '100')), at: hourArb, effective: fc.option(fc.oneof(hourArb, fc.constantFrom(0, 48, 96)), { nil: undefined }), expiry: fc.oneof(fc.constantFrom(...EXPIRIES), hourArb), lot: fc.option(fc.constantFrom(...LOT_IDS), { nil: undefined }) }) },
  { weight: 6, arbitrary: fc.record({ type: fc.constant('usage' as const), wallet: walletArb, amount: amountArb, at: hourArb, user: fc.constantFrom('ada', 'bo', 'cy') }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('move' as const), from: walletArb, to: walletArb, at: hourArb, amount: fc.option(amountArb, { nil: undefined }), lot: fc.option(fc.constantFrom(...LOT_IDS), { nil: undefined }) }).filter((m) => m.from !== m.to) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('void' as const), target: fc.nat(), at: hourArb }) },
);

function toEvent(draft: Draft, index: number, all: Draft[], account: string): RefEvent {
  const id = `e${String(index).padStart(3, '0')}`;
  const common = { event_id: id, account_id: account, occurred_at: iso(BASE + draft.at * HOUR) };
  switch (draft.type) {
    case 'purchase': {
      const effective = draft.effective ?? draft.at;
      return {
        ...common,
        type: 'purchase',
        wallet: { type: 'team', id: draft.wallet },
        amount: draft.amount,
        ...(draft.effective !== undefined ? { effective_at: iso(BASE + effective * HOUR) } : {}),
        // A drawn expiry at or before the effective instant becomes one hour after it.
        expires_at: iso(BASE + (draft.expiry > effective ? draft.expiry : effective + 1) * HOUR),
        ...(draft.lot ? { lot_id: draft.lot } : {}),
      };
    }
    case 'usage':
      return { ...common, type: 'usage', wallet: { type: 'team', id: draft.wallet }, amount: draft.amount, user_id: draft.user, product: 'compiler' };
    case 'move':
      return {
        ...common,
        type: 'move',
        from: { type: 'team', id: draft.from },
        to: { type: 'team', id: draft.to },
        ...(draft.amount ? { amount: draft.amount } : {}),
        ...(draft.lot ? { lot_id: draft.lot } : {}),
      };
    case 'void': {
      // Targets any event of the history (before or after it, even another void), or none.
      // An event cannot void itself: the contract refuses that.
      const target = draft.target % (all.length + 2);
      const named = target < all.length && target !== index;
      return { ...common, type: 'void', voids_event_id: named ? `e${String(target).padStart(3, '0')}` : 'missing' };
    }
  }
}

export interface History {
  /** Each accepted event once, in generation order. */
  events: RefEvent[];
  /** What is sent: shuffled, with some events repeated. */
  delivered: RefEvent[];
  /** Instants to compare balances at. */
  instants: number[];
}

export function historyArb(account = 'acme', maxEvents = 40): fc.Arbitrary<History> {
  return fc
    .array(draftArb, { minLength: 4, maxLength: maxEvents, size: 'max' })
    .chain((drafts) => {
      const events = drafts.map((d, i) => toEvent(d, i, drafts, account));
      return fc.record({
        events: fc.constant(events),
        delivered: fc.shuffledSubarray([...events, ...events.slice(0, Math.ceil(events.length / 3))], {
          minLength: events.length + Math.ceil(events.length / 3),
        }).chain((all) => fc.shuffledSubarray(all, { minLength: all.length })),
        instants: fc.array(fc.integer({ min: -24, max: 24 * 40 }).map((h) => BASE + h * HOUR + (h % 3 === 0 ? 0 : 1800_000)), { minLength: 1, maxLength: 4 }),
      });
    })
    .map((h) => ({ ...h, instants: [...h.instants, ...h.events.map((e) => Date.parse(e.occurred_at)).slice(0, 2)] }));
}

const wallet = (w: { type: string; id: string } | undefined) => walletKey(w?.type ?? '', w?.id ?? '');

/** The ledger's input for a history, usage given event by event or in segment sums. */
export function ledgerInputOf(delivered: RefEvent[], at: number, mode: 'events' | 'segments'): LedgerInput {
  const seen = new Set<string>();
  const lots: LotInput[] = [];
  const moves: MoveInput[] = [];
  const usage: UsageEvent[] = [];
  const voided = new Set<string>();
  for (const e of delivered) {
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    const occurredAt = Date.parse(e.occurred_at);
    if (e.type === 'purchase') {
      lots.push({
        lotId: e.lot_id ?? e.event_id,
        eventId: e.event_id,
        wallet: wallet(e.wallet),
        amount: units(e.amount as string),
        occurredAt,
        effectiveAt: Date.parse(e.effective_at ?? e.occurred_at),
        expiresAt: Date.parse(e.expires_at as string),
      });
    } else if (e.type === 'move') {
      moves.push({ eventId: e.event_id, occurredAt, from: wallet(e.from), to: wallet(e.to), ...(e.lot_id ? { lotId: e.lot_id } : {}), ...(e.amount !== undefined ? { amount: units(e.amount) } : {}) });
    } else if (e.type === 'usage') {
      usage.push({ wallet: wallet(e.wallet), at: occurredAt, eventId: e.event_id, amount: units(e.amount as string) });
    } else {
      voided.add(e.voids_event_id as string);
    }
  }
  if (mode === 'events') return { at, lots, moves, usageEvents: usage, usageSegments: [], voided };
  // Segments are built as rollups would hold them: without voided or future usage.
  const kept = usage.filter((u) => !voided.has(u.eventId) && u.at <= at);
  const segmented = segmentUsage(kept, breakpointsByWallet(lots, moves, at));
  return { at, lots, moves, voided, ...segmented };
}
