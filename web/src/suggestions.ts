import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, MoveSuggestions, WalletRow } from './api';
import { walletsSignature } from './walletList';

/**
 * The account's suggested moves, read again whenever a wallet's balance or burn rate changes: a
 * move, a purchase or new usage changes what the forecast lets expire and who runs out.
 */
export function useMoveSuggestions(api: Api, wallets: WalletRow[] | undefined): MoveSuggestions | undefined {
  const [answer, setAnswer] = useState<MoveSuggestions>();
  const signature = useMemo(() => (wallets ? walletsSignature(wallets) : undefined), [wallets]);
  useEffect(() => {
    if (signature === undefined) return;
    let cancelled = false;
    api.client
      .GET('/v1/suggestions/moves')
      .then((result) => {
        const body = api.check(result);
        if (body && !cancelled) setAnswer(body);
      })
      // The panel keeps what it showed; the live status line reports a server that cannot be reached.
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [api, signature]);
  return answer;
}
