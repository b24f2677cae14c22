/**
 * A brute-force replay of SPEC section 3, written apart from the product's ledger so each can
 * catch the other's mistakes. It takes the accepted events one by one and walks time instant
 * by instant; nothing is aggregated and nothing is clever.
 */

export interface RefEvent {
  event_id: string;
  type: 'purchase' | 'usage' | 'move' | 'void';
  account_id: string;
  occurred_at: string;
  wallet?: { type: string; id: string };
  from?: { type: string; id: string };
  to?: { type: string; id: string };
  amount?: string | number;
  effective_at?: string;
  expires_at?: string;
  lot_id?: string;
  user_id?: string;
  product?: string;
  service?: string;
  voids_event_id?: string;
}

export interface RefLot {
  lotId: string;
  wallet: string;
  amount: bigint;
  consumed: bigint;
  movedOut: bigint;
  expired: bigint;
  effectiveAt: number;
  expiresAt: number;
  expiredDone: boolean;
  sortAmount: bigint;
  sortEffective: number;
  born: number;
}

export interface RefWallet {
  total: bigint;
  used: bigint;
  available: bigint;
  status: 'green' | 'red';
  overage: bigint;
  expired: bigint;
}

export interface RefTokenEvent {
  type: string;
  wallet: string;
  at: number;
  amount: bigint;
}

export interface RefResult {
  lots: RefLot[];
  wallets: Map<string, RefWallet>;
  tokenEvents: RefTokenEvent[];
  usageTotal: bigint;
}

/** Decimal text or number to units of 10^-4, by string arithmetic only. */
export function units(value: string | number): bigint {
  const text = typeof value === 'number' ? String(value) : value;
  const [whole, frac = ''] = text.split('.');
  return BigInt(whole as string) * 10000n + BigInt((frac + '0000').slice(0, 4));
}

const walletName = (w: { type: string; id: string }) => `${w.type}/${w.id}`;
const ms = (t: string) => Date.parse(t);

/** First occurrence of each event_id wins, as ingest does. */
export function acceptedOnce(events: RefEvent[]): RefEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => (seen.has(e.event_id) ? false : (seen.add(e.event_id), true)));
}

export function replay(allEvents: RefEvent[], at: number): RefResult {
  const events = acceptedOnce(allEvents);
  const voidedIds = new Set(events.filter((e) => e.type === 'void').map((e) => e.voids_event_id));
  const live = events.filter((e) => e.type !== 'void' && !voidedIds.has(e.event_id) && ms(e.occurred_at) <= at);

  const lots: RefLot[] = [];
  const overage = new Map<string, bigint>();
  const tokenEvents: RefTokenEvent[] = [];
  const wallets = new Set<string>();
  let born = 0;
  let usageTotal = 0n;

  for (const e of live) {
    if (e.type === 'purchase') {
      const amount = units(e.amount as string);
      const effectiveAt = ms(e.effective_at ?? e.occurred_at);
      const wallet = walletName(e.wallet as { type: string; id: string });
      wallets.add(wallet);
      lots.push({
        lotId: e.lot_id ?? e.event_id,
        wallet,
        amount,
        consumed: 0n,
        movedOut: 0n,
        expired: 0n,
        effectiveAt,
        expiresAt: ms(e.expires_at as string),
        expiredDone: false,
        sortAmount: amount,
        sortEffective: effectiveAt,
        born: born++,
      });
      tokenEvents.push({ type: 'purchased', wallet, at: ms(e.occurred_at), amount });
    }
  }

  const steps = live.filter((e) => e.type === 'usage' || e.type === 'move');
  const instants = new Set<number>(steps.map((e) => ms(e.occurred_at)));
  for (const lot of lots) if (lot.expiresAt <= at) instants.add(lot.expiresAt);
  const timeline = [...instants].sort((a, b) => a - b);

  const remainingOf = (lot: RefLot) => lot.amount - lot.consumed - lot.movedOut - lot.expired;
  const usable = (wallet: string, t: number) =>
    lots
      .filter((l) => l.wallet === wallet && !l.expiredDone && l.effectiveAt <= t && t < l.expiresAt && remainingOf(l) > 0n)
      .sort(
        (a, b) =>
          a.expiresAt - b.expiresAt ||
          (a.sortAmount < b.sortAmount ? -1 : a.sortAmount > b.sortAmount ? 1 : 0) ||
          a.sortEffective - b.sortEffective ||
          (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0) ||
          a.born - b.born,
      );

  for (const t of timeline) {
    // Expiries first: at its expiry instant a lot is no longer active.
    for (const lot of lots) {
      if (!lot.expiredDone && lot.expiresAt === t) {
        lot.expired = remainingOf(lot);
        lot.expiredDone = true;
        if (lot.expired > 0n) tokenEvents.push({ type: 'expired', wallet: lot.wallet, at: t, amount: lot.expired });
      }
    }
    const here = steps.filter((e) => ms(e.occurred_at) === t).sort((a, b) => (a.event_id < b.event_id ? -1 : 1));
    for (const e of here) {
      if (e.type === 'usage') {
        const wallet = walletName(e.wallet as { type: string; id: string });
        wallets.add(wallet);
        let need = units(e.amount as string);
        usageTotal += need;
        for (const lot of usable(wallet, t)) {
          const take = remainingOf(lot) < need ? remainingOf(lot) : need;
          lot.consumed += take;
          need -= take;
          if (need === 0n) break;
        }
        if (need > 0n) overage.set(wallet, (overage.get(wallet) ?? 0n) + need);
      } else {
        const from = walletName(e.from as { type: string; id: string });
        const to = walletName(e.to as { type: string; id: string });
        wallets.add(from);
        wallets.add(to);
        let want = e.amount === undefined ? -1n : units(e.amount);
        let taken = 0n;
        for (const lot of usable(from, t).filter((l) => e.lot_id === undefined || l.lotId === e.lot_id)) {
          if (want === 0n) break;
          const rem = remainingOf(lot);
          const take = want < 0n || rem < want ? rem : want;
          lot.movedOut += take;
          if (want > 0n) want -= take;
          taken += take;
          lots.push({
            lotId: lot.lotId,
            wallet: to,
            amount: take,
            consumed: 0n,
            movedOut: 0n,
            expired: 0n,
            effectiveAt: t,
            expiresAt: lot.expiresAt,
            expiredDone: false,
            sortAmount: lot.sortAmount,
            sortEffective: lot.sortEffective,
            born: born++,
          });
        }
        tokenEvents.push({ type: 'moved_out', wallet: from, at: t, amount: taken });
        tokenEvents.push({ type: 'moved_in', wallet: to, at: t, amount: taken });
      }
    }
  }

  const result = new Map<string, RefWallet>();
  for (const wallet of wallets) {
    const mine = lots.filter((l) => l.wallet === wallet);
    const active = mine.filter((l) => l.effectiveAt <= at && at < l.expiresAt);
    const total = active.reduce((s, l) => s + l.amount - l.movedOut, 0n);
    const used = active.reduce((s, l) => s + l.consumed, 0n);
    const available = total - used;
    result.set(wallet, {
      total,
      used,
      available,
      status: available * 10n > total * 2n ? 'green' : 'red',
      overage: overage.get(wallet) ?? 0n,
      expired: mine.reduce((s, l) => s + l.expired, 0n),
    });
  }
  return { lots, wallets: result, tokenEvents, usageTotal };
}

/** Lots holding something at `at` that expire within `days`, as the SPEC's expiring list. */
export function expiringLots(result: RefResult, at: number, days: number) {
  return result.lots
    .filter((l) => !l.expiredDone && l.amount - l.consumed - l.movedOut > 0n && l.expiresAt <= at + days * 86_400_000)
    .map((l) => ({ wallet: l.wallet, lotId: l.lotId, remaining: l.amount - l.consumed - l.movedOut, expiresAt: l.expiresAt }));
}
