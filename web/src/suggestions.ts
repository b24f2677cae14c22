import { useEffect, useState } from 'preact/hooks';
import type { Api, MoveSuggestions } from './api';

/**
 * The account's suggested moves, read again whenever a wallet's balance or burn rate changes
 * (the live wallet list's `version`, 0 until it has wallets): a move, a purchase or new usage
 * changes what the forecast lets expire and who runs out.
 */
export function useMoveSuggestions(api: Api, version: number): MoveSuggestions | undefined {
  const [answer, setAnswer] = useState<MoveSuggestions>();
  useEffect(() => {
    if (version === 0) return;
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
  }, [api, version]);
  return answer;
}
