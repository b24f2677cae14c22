import { useEffect, useRef, useState } from 'preact/hooks';
import { type Api, type ExpiringLot, type MoveSuggestion, type TokenEvent, type WalletRef, type WalletRow, walletKey, walletLabel } from '../api';
import { formatAmount, toScaled } from '../amount';
import { daysLeftText, formatDate, formatDateTime } from '../format';
import type { HistoryDays } from '../urlState';
import { WalletForecast } from './WalletForecast';

interface Props {
  api: Api;
  wallet: WalletRef;
  row?: WalletRow;
  rows: Map<string, WalletRow>;
  expiring: ExpiringLot[];
  nextExpiry?: ExpiringLot;
  suggestions: MoveSuggestion[];
  historyDays: HistoryDays;
  onHistoryDays: (days: HistoryDays) => void;
  version: number;
  scheme: number;
  onClose: () => void;
  onShowUsage: (wallet: string) => void;
}

export const EVENTS_PAGE_SIZE = 10;

const EVENT_TYPE: Record<TokenEvent['type'], string> = {
  purchased: 'Purchased',
  expired: 'Expired',
  moved_in: 'Moved in',
  moved_out: 'Moved out',
};

/**
 * One wallet in a modal dialog: its balance, its forecast with the balance history and suggested
 * moves, its expiring lots and its token events, newest first, a page at a time. The dialog is the browser's own, so focus stays in it and Escape closes it.
 */
export function WalletDetails({ api, wallet, row, rows, expiring, nextExpiry, suggestions, historyDays, onHistoryDays, version, scheme, onClose, onShowUsage }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const key = walletKey(wallet);
  const name = row ? walletLabel(row) : wallet.id;
  const [events, setEvents] = useState<TokenEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);

  async function load(after: string | null, replace: boolean) {
    setLoading(true);
    setError(undefined);
    try {
      const page = api.check(
        await api.client.GET('/v1/wallets/{type}/{id}/events', {
          params: { path: { type: wallet.type, id: wallet.id }, query: { limit: String(EVENTS_PAGE_SIZE), from: 'now-1825d', ...(after ? { cursor: after } : {}) } },
        }),
      );
      if (page) {
        setEvents((current) => (replace ? page.events : [...current, ...page.events]));
        setCursor(page.next_cursor);
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setLoading(false);
    }
  }

  // The first page again whenever balances change, so a new purchase or move appears at the top;
  // once more pages are loaded, the admin's place in the list is kept instead.
  const pagesLoaded = useRef(0);
  useEffect(() => {
    if (pagesLoaded.current > 1) return;
    pagesLoaded.current = 1;
    void load(null, true);
  }, [key, version]);

  const nameOf = (w: WalletRef) => {
    const other = rows.get(walletKey(w));
    return other ? walletLabel(other) : w.id;
  };
  const lots = expiring.filter((lot) => walletKey(lot.wallet) === key);

  return (
    <dialog ref={dialog} class="details" aria-labelledby="details-title" onClose={onClose} data-details-wallet={key}>
      <header class="details-head">
        <div>
          <h2 id="details-title">{name}</h2>
          <p class="muted">
            {wallet.type === 'team' ? 'Team' : 'Contract'} · {wallet.id}
          </p>
        </div>
        <button type="button" class="icon-button" onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </header>
      {row && (
        <dl class="details-balance">
          <div>
            <dt>Available</dt>
            <dd>{formatAmount(row.available)}</dd>
          </div>
          <div>
            <dt>Used</dt>
            <dd>{formatAmount(row.used)}</dd>
          </div>
          <div>
            <dt>Total purchased</dt>
            <dd>{formatAmount(row.total)}</dd>
          </div>
          <div>
            <dt>Overage</dt>
            <dd>{formatAmount(row.overage)}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd class={`status-text status-${row.status}`}>
              {row.status === 'green' ? 'Healthy' : 'Low balance'}
              <small>{row.status === 'green' ? 'over 20 % available' : '20 % or less available'}</small>
            </dd>
          </div>
        </dl>
      )}
      <p>
        <button type="button" class="link-button" onClick={() => onShowUsage(key)}>
          View usage details of {name}
        </button>
      </p>

      <WalletForecast
        api={api}
        wallet={wallet}
        name={name}
        row={row}
        rows={rows}
        nextExpiry={nextExpiry}
        suggestions={suggestions}
        historyDays={historyDays}
        onHistoryDays={onHistoryDays}
        scheme={scheme}
      />

      <h3>Expiring within 90 days</h3>
      {lots.length === 0 ? (
        <p class="muted">Nothing expires within 90 days.</p>
      ) : (
        <ul class="lot-list">
          {lots.map((lot) => (
            <li key={lot.lot_id}>
              <span class="lot-id">{lot.lot_id}</span> {formatAmount(lot.remaining)} on {formatDate(lot.expires_at)} · <strong>{daysLeftText(lot.days_left)}</strong>
            </li>
          ))}
        </ul>
      )}

      <h3 id="events-title">Token events</h3>
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Token events, scrollable">
        <table class="events" aria-labelledby="events-title">
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Event</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col">Lots</th>
              <th scope="col">Other wallet</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={`${event.type}/${event.event_id}/${event.lots[0]?.lot_id ?? ''}`} data-event-type={event.type}>
                <td>{formatDateTime(event.at)}</td>
                <td>
                  <span class={`event-type event-${event.type}`}>{EVENT_TYPE[event.type]}</span>
                </td>
                <td class="num">
                  {formatAmount(event.amount)}
                  {event.shortfall !== undefined && toScaled(event.shortfall) > 0n && <small class="shortfall">{formatAmount(event.shortfall)} short of {formatAmount(event.requested)}</small>}
                </td>
                <td>{event.lots.map((lot) => lot.lot_id).join(', ')}</td>
                <td>{event.counterparty ? nameOf(event.counterparty) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && events.length === 0 && !error && <p class="muted">No token events.</p>}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <p class="details-more" aria-live="polite">
        {cursor ? (
          <button type="button" class="button" disabled={loading} onClick={() => {
              pagesLoaded.current += 1;
              void load(cursor, false);
            }}>
            {loading ? 'Loading…' : 'Load more'}
          </button>
        ) : (
          events.length > 0 && <span class="muted">All {events.length} token events shown.</span>
        )}
      </p>
    </dialog>
  );
}
