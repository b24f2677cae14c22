import { useEffect, useState } from 'preact/hooks';
import { type Api, type ExpiringLot, type Forecast, type MoveSuggestion, type WalletRef, type WalletRow, walletKey } from '../api';
import { formatAmount, toScaled } from '../amount';
import { formatDate, runsOutText } from '../format';
import type { HistoryDays } from '../urlState';
import { balanceSignature } from '../walletList';
import { BalanceHistory } from './BalanceHistory';
import { SuggestedMoves } from './SuggestedMoves';

interface Props {
  api: Api;
  wallet: WalletRef;
  name: string;
  row?: WalletRow;
  rows: Map<string, WalletRow>;
  nextExpiry?: ExpiringLot;
  suggestions: MoveSuggestion[];
  historyDays: HistoryDays;
  onHistoryDays: (days: HistoryDays) => void;
  scheme: number;
}

/**
 * What comes next for one wallet, at the current pace: when it runs out, which lots expire with
 * something left, its balance history with the projection, and the moves suggested for it.
 */
export function WalletForecast({ api, wallet, name, row, rows, nextExpiry, suggestions, historyDays, onHistoryDays, scheme }: Props) {
  const [forecast, setForecast] = useState<Forecast>();
  const [error, setError] = useState<string>();
  const key = walletKey(wallet);
  // Read again when the balance or the burn rate changes, not on every poll.
  const signature = balanceSignature(row);

  useEffect(() => {
    let cancelled = false;
    api.client
      .GET('/v1/wallets/{type}/{id}/forecast', { params: { path: { type: wallet.type, id: wallet.id } } })
      .then((result) => {
        const body = api.check(result);
        if (body && !cancelled) {
          setForecast(body);
          setError(undefined);
        }
      })
      .catch((err: Error) => {
        if (!cancelled) setError(err.message);
      });
    return () => {
      cancelled = true;
    };
  }, [key, signature]);

  const mine = suggestions.filter((s) => walletKey(s.from) === key || walletKey(s.to) === key);
  return (
    <section class="forecast" aria-labelledby="forecast-title" data-forecast-wallet={key} data-runs-out-at={forecast ? (forecast.runs_out_at ?? '') : undefined}>
      <h3 id="forecast-title">At the current pace</h3>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {forecast ? (
        <>
          <p class="forecast-runs-out">
            <strong>{runsOutText(forecast.runs_out_at)}</strong>
          </p>
          <p class="muted">
            At {formatAmount(forecast.burn_rate_per_day)} a day, the average of the past {forecast.window_days} days
          </p>
          {toScaled(forecast.projected_unused_total) > 0n ? (
            <>
              <p data-projected-unused={forecast.projected_unused_total}>
                <strong>{formatAmount(forecast.projected_unused_total)}</strong> forecast to expire unused:
              </p>
              <ul class="lot-list">
                {forecast.expiring_unused.map((lot) => (
                  <li key={`${lot.lot_id}/${lot.expires_at}`} data-unused-lot={lot.lot_id}>
                    <span class="lot-id">{lot.lot_id}</span> {formatAmount(lot.projected_unused)} on {formatDate(lot.expires_at)}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p class="muted">Nothing is forecast to expire unused.</p>
          )}
        </>
      ) : (
        !error && <p class="muted">Loading the forecast…</p>
      )}
      <BalanceHistory
        api={api}
        wallet={wallet}
        name={name}
        available={row?.available ?? '0'}
        forecast={forecast}
        nextExpiry={nextExpiry}
        days={historyDays}
        onDays={onHistoryDays}
        signature={signature}
        scheme={scheme}
      />
      <h3 id="wallet-moves-title">Suggested moves</h3>
      <div aria-labelledby="wallet-moves-title" role="region" data-wallet-suggestions={mine.length}>
        {mine.length === 0 ? <p class="muted">No move is suggested for {name}.</p> : <SuggestedMoves suggestions={mine} rows={rows} initial={5} />}
      </div>
    </section>
  );
}
