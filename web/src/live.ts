import { useEffect, useRef, useState } from 'preact/hooks';
import { type Api, type ExpiringLot, type WalletRow, Unauthorized } from './api';
import { walletsSignature } from './walletList';

/**
 * Live balances by conditional polling: twice a second (paused while the tab is hidden) the wallet
 * list is asked for with If-None-Match, and the server's 304 makes an unchanged answer cost
 * almost nothing. When a balance or a burn rate changes, the expiring lots are read again and
 * `version` moves on, which tells cards to refresh what they show. A forecast runs from the moment
 * it is read, so run-outs move on with the clock: those alone update the wallets, not `version`.
 */
export interface LiveBalances {
  wallets?: WalletRow[];
  /** Lots expiring within 90 days, soonest first, as the API lists them. */
  expiring90: ExpiringLot[];
  /** Each wallet's soonest expiring lot with something left, within ten years. */
  nextExpiry: Map<string, ExpiringLot>;
  version: number;
  updatedAt?: number;
  error?: string;
}

const POLL_MS = 500;
const EXPIRING_REFRESH_MS = 60_000;

export function useLiveBalances(api: Api, onUnauthorized: () => void): LiveBalances {
  const [live, setLive] = useState<LiveBalances>({ expiring90: [], nextExpiry: new Map(), version: 0 });
  const etags = useRef(new Map<string, string>());

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let expiringReadAt = 0;
    let signature = '';

    /** One conditional GET: the new body, or undefined when the server answered 304. */
    async function conditional<T>(name: string, read: (headers: Record<string, string>) => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T | undefined> {
      const etag = etags.current.get(name);
      const result = await read(etag ? { 'if-none-match': etag } : {});
      const body = api.check(result);
      const next = result.response.headers.get('etag');
      if (body !== undefined && next) etags.current.set(name, next);
      return body;
    }

    async function poll(): Promise<void> {
      const wallets = await conditional('wallets', (headers) => api.client.GET('/v1/wallets', { headers }));
      if (stopped) return;
      const rows = wallets?.wallets as WalletRow[] | undefined;
      const next = rows ? walletsSignature(rows) : signature;
      const changed = next !== signature;
      signature = next;
      // Cards first: expiry details follow in a second render.
      setLive((current) =>
        rows ? { ...current, wallets: rows, version: current.version + (changed ? 1 : 0), updatedAt: Date.now(), error: undefined } : { ...current, updatedAt: Date.now(), error: undefined },
      );
      if (!changed && Date.now() - expiringReadAt < EXPIRING_REFRESH_MS) return;
      expiringReadAt = Date.now();
      const [soon, all] = await Promise.all([
        conditional('expiring90', (headers) => api.client.GET('/v1/expiring', { params: { query: { within_days: '90' } }, headers })),
        conditional('expiringAll', (headers) => api.client.GET('/v1/expiring', { params: { query: { within_days: '3650' } }, headers })),
      ]);
      if (stopped || (!soon && !all)) return;
      setLive((current) => {
        const next: LiveBalances = { ...current };
        if (soon) next.expiring90 = soon.lots;
        if (all) {
          const soonest = new Map<string, ExpiringLot>();
          for (const lot of all.lots) {
            const key = `${lot.wallet.type}/${lot.wallet.id}`;
            if (!soonest.has(key)) soonest.set(key, lot);
          }
          next.nextExpiry = soonest;
        }
        return next;
      });
    }

    let polling = false;
    async function loop(): Promise<void> {
      if (stopped || polling) return;
      polling = true;
      clearTimeout(timer);
      if (document.visibilityState !== 'hidden') {
        try {
          await poll();
        } catch (err) {
          if (err instanceof Unauthorized) {
            polling = false;
            onUnauthorized();
            return;
          }
          if (!stopped) setLive((current) => ({ ...current, error: (err as Error).message || 'the server could not be reached' }));
        }
      }
      polling = false;
      if (!stopped) timer = setTimeout(() => void loop(), POLL_MS);
    }

    const onVisible = () => {
      if (document.visibilityState === 'visible') void loop();
    };
    document.addEventListener('visibilitychange', onVisible);
    void loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api, onUnauthorized]);

  return live;
}
