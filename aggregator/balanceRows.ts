import { formatScaled } from '../core/decimal.js';
import { walletOf, type LedgerResult, type WalletKey } from '../ledger/ledger.js';

/**
 * The ledger's results as rows of the balance tables (migration 020): one row per wallet, per
 * lot and per token event, every amount as exact decimal text. Pure, so a test can compare the
 * tables with the ledger row for row.
 */

export interface WalletBalanceRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  name: string;
  total: string;
  used: string;
  available: string;
  status: 'green' | 'red';
  overage: string;
  expired: string;
  expiring_within_90d: string;
  next_expiry: string | null;
}

export interface LotBalanceRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  lot_id: string;
  purchase_event_id: string;
  move_event_id: string;
  part: number;
  amount: string;
  consumed: string;
  moved_out: string;
  expired: string;
  remaining: string;
  effective_at: string;
  expires_at: string;
}

export interface TokenEventRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  occurred_at: string;
  type: 'purchased' | 'expired' | 'moved_in' | 'moved_out';
  event_id: string;
  part: number;
  amount: string;
  lot_ids: string[];
  counterparty_type: string;
  counterparty_id: string;
  requested: string | null;
  shortfall: string | null;
}

export interface BalanceRows {
  wallets: WalletBalanceRow[];
  lots: LotBalanceRow[];
  tokenEvents: TokenEventRow[];
}

/** ClickHouse's DateTime64(3) text in UTC, which JSONEachRow reads back exactly. */
export function clickhouseTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** Numbers rows that share a key, in the ledger's own (deterministic) order, from 0. */
function partCounter(): (key: string) => number {
  const seen = new Map<string, number>();
  return (key) => {
    const part = seen.get(key) ?? 0;
    seen.set(key, part + 1);
    return part;
  };
}

export function balanceRowsOf(accountId: string, ledger: LedgerResult, names: ReadonlyMap<WalletKey, string>): BalanceRows {
  const nextExpiry = new Map<WalletKey, number>();
  for (const lot of ledger.lots) {
    if (lot.hasExpired || lot.remaining <= 0n || lot.expiresAt <= ledger.at) continue;
    const known = nextExpiry.get(lot.wallet);
    if (known === undefined || lot.expiresAt < known) nextExpiry.set(lot.wallet, lot.expiresAt);
  }

  const wallets: WalletBalanceRow[] = [...ledger.wallets.values()].map((balance) => {
    const { type, id } = walletOf(balance.wallet);
    const expiry = nextExpiry.get(balance.wallet);
    return {
      account_id: accountId,
      wallet_type: type,
      wallet_id: id,
      name: names.get(balance.wallet) ?? id,
      total: formatScaled(balance.total),
      used: formatScaled(balance.used),
      available: formatScaled(balance.available),
      status: balance.status,
      overage: formatScaled(balance.overage),
      expired: formatScaled(balance.expired),
      expiring_within_90d: formatScaled(balance.expiringWithin90d),
      next_expiry: expiry === undefined ? null : clickhouseTime(expiry),
    };
  });

  const lotPart = partCounter();
  const lots: LotBalanceRow[] = ledger.lots.map((lot) => {
    const { type, id } = walletOf(lot.wallet);
    const moveEventId = lot.moveEventId ?? '';
    return {
      account_id: accountId,
      wallet_type: type,
      wallet_id: id,
      lot_id: lot.lotId,
      purchase_event_id: lot.purchaseEventId,
      move_event_id: moveEventId,
      part: lotPart(JSON.stringify([lot.wallet, lot.lotId, lot.purchaseEventId, moveEventId])),
      amount: formatScaled(lot.amount),
      consumed: formatScaled(lot.consumed),
      moved_out: formatScaled(lot.movedOut),
      expired: formatScaled(lot.expired),
      remaining: formatScaled(lot.remaining),
      effective_at: clickhouseTime(lot.effectiveAt),
      expires_at: clickhouseTime(lot.expiresAt),
    };
  });

  const eventPart = partCounter();
  const tokenEvents: TokenEventRow[] = ledger.tokenEvents.map((event) => {
    const { type, id } = walletOf(event.wallet);
    const counterparty = event.counterparty === undefined ? { type: '', id: '' } : walletOf(event.counterparty);
    return {
      account_id: accountId,
      wallet_type: type,
      wallet_id: id,
      occurred_at: clickhouseTime(event.at),
      type: event.type,
      event_id: event.eventId,
      part: eventPart(JSON.stringify([event.wallet, event.at, event.type, event.eventId])),
      amount: formatScaled(event.amount),
      lot_ids: event.lots.map((l) => l.lotId),
      counterparty_type: counterparty.type,
      counterparty_id: counterparty.id,
      requested: event.requested === undefined ? null : formatScaled(event.requested),
      shortfall: event.shortfall === undefined ? null : formatScaled(event.shortfall),
    };
  });

  return { wallets, lots, tokenEvents };
}
