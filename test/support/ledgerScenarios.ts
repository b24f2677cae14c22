/**
 * The ledger over HTTP on chDB, for the hand-written scenarios (test/http/ledger.scenarios.*):
 * one store and one API per test file, a clock the file sets, and readers that return the parts
 * of a response the scenarios compare. Every scenario uses wallets and event ids of its own.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from './api.js';
import { freshStore } from './store.js';

export type WalletRef = { type: string; id: string };

export interface Balance {
  wallet: WalletRef;
  at: string;
  total: string;
  used: string;
  available: string;
  status: 'green' | 'red';
  overage: string;
  expired: string;
}

export interface TokenEventJson {
  type: 'purchased' | 'expired' | 'moved_in' | 'moved_out';
  at: string;
  event_id: string;
  amount: string;
  lots: Array<{ lot_id: string; amount: string; expires_at: string }>;
  counterparty?: WalletRef;
  requested?: string;
  shortfall?: string;
}

export interface EventsPage {
  wallet: WalletRef;
  from: string;
  to: string;
  events: TokenEventJson[];
  next_cursor: string | null;
}

export interface ExpiringLot {
  wallet: WalletRef;
  lot_id: string;
  remaining: string;
  expires_at: string;
  days_left: number;
}

export interface WalletsList {
  at: string;
  wallets: Array<{ wallet: WalletRef; name: string; total: string; used: string; available: string; status: string; overage: string; expiring_within_90d: string }>;
}

export const team = (id: string) => ({ type: 'team', id });
export const iso = (text: string) => new Date(Date.parse(text)).toISOString();

/**
 * Starts a store and the API over it before the file's tests, and closes both after them. The
 * clock starts at 2026-01-15; a scenario sets it before it reads.
 */
export function ledgerOverHttp() {
  let store: Store;
  let api: TestApi;
  let clock = Date.parse('2026-01-15T00:00:00Z');

  beforeAll(async () => {
    store = await freshStore();
    api = await startApi(store, { clock: () => clock });
  });
  afterAll(async () => {
    await api.close();
    await store.close();
  });

  function setClock(text: string): void {
    clock = Date.parse(text);
  }

  /** Posts events as one JSON array; every one must be accepted. */
  async function post(...events: unknown[]): Promise<void> {
    const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
  }

  async function getJson<T>(path: string, key = 'acme-admin'): Promise<T> {
    const res = await api.request(path, { key });
    const body = await res.json();
    expect(res.status, `${path}: ${JSON.stringify(body)}`).toBe(200);
    return body as T;
  }

  /** A team wallet's balance: now (the clock) or at an explicit instant. */
  function balance(id: string, at?: string): Promise<Balance> {
    return getJson<Balance>(`/v1/wallets/team/${id}/balance${at === undefined ? '' : `?at=${encodeURIComponent(at)}`}`);
  }

  /** The balance fields that matter, without the echo of wallet and instant. */
  async function amounts(id: string, at?: string) {
    const { total, used, available, status, overage, expired } = await balance(id, at);
    return { total, used, available, status, overage, expired };
  }

  /** All token events of a team wallet in a wide range, newest first. */
  async function tokenEvents(id: string, range = 'from=2025-01-01T00:00:00Z&to=2028-01-01T00:00:00Z'): Promise<TokenEventJson[]> {
    return (await getJson<EventsPage>(`/v1/wallets/team/${id}/events?${range}&limit=1000`)).events;
  }

  /** Unexpired lots with something left, of the given team wallets, as of the clock. */
  async function expiring(ids: string[], withinDays = 365): Promise<Array<Omit<ExpiringLot, 'days_left'> & { days_left?: number }>> {
    const body = await getJson<{ lots: ExpiringLot[] }>(`/v1/expiring?within_days=${withinDays}`);
    return body.lots.filter((l) => l.wallet.type === 'team' && ids.includes(l.wallet.id));
  }

  /** `{ wallet id, lot_id, remaining, expires_at }` of unexpired lots, for compact assertions. */
  async function lotsLeft(ids: string[], withinDays = 365) {
    return (await expiring(ids, withinDays)).map((l) => ({ wallet: l.wallet.id, lot_id: l.lot_id, remaining: l.remaining, expires_at: l.expires_at }));
  }

  return {
    request: (path: string, init?: RequestInit & { key?: string }) => api.request(path, init),
    setClock,
    post,
    getJson,
    balance,
    amounts,
    tokenEvents,
    expiring,
    lotsLeft,
  };
}
