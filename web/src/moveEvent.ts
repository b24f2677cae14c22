import type { MoveSuggestion, WalletRef } from './api';

/**
 * The `move` event (SPEC section 2) that carries out a suggested move, exactly as it would be sent
 * to `POST /v1/events` or the events topic. The page only shows it: it never sends it.
 */
export interface MoveEvent {
  event_id: string;
  type: 'move';
  account_id: string;
  occurred_at: string;
  from: WalletRef;
  to: WalletRef;
  lot_id: string;
  amount: string;
}


/** A fresh idempotency key: sending the same event twice moves once. */
export function newMoveEventId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `move-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** RFC 3339 to the second, in UTC. */
const toSecond = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function moveEventFor(suggestion: MoveSuggestion, eventId: string, at: Date): MoveEvent {
  return {
    event_id: eventId,
    type: 'move',
    account_id: suggestion.account_id,
    occurred_at: toSecond(at),
    from: { type: suggestion.from.type, id: suggestion.from.id },
    to: { type: suggestion.to.type, id: suggestion.to.id },
    lot_id: suggestion.lot_id,
    amount: suggestion.amount,
  };
}

export const moveEventJson = (event: MoveEvent) => JSON.stringify(event, null, 2);
