import { useState } from 'preact/hooks';
import { type MoveSuggestion, type WalletRef, type WalletRow, walletKey, walletLabel } from '../api';
import { formatAmount, formatScaled, toScaled } from '../amount';
import { formatDate, shortDate } from '../format';
import { type MoveEvent, moveEventFor, newMoveEventId } from '../moveEvent';
import { MoveEventDialog } from './MoveEventDialog';

interface Props {
  suggestions: MoveSuggestion[];
  rows: Map<string, WalletRow>;
  /** How many to list before "Show all". */
  initial?: number;
}

const runsOut = (at: string | null) => (at === null ? 'not within two years' : shortDate(at));

/** Each suggestion's event id, kept while the page is open, so that copying twice sends one move. */
const eventIds = new Map<string, string>();
const suggestionKey = (s: MoveSuggestion) => `${walletKey(s.from)}>${walletKey(s.to)}/${s.lot_id}/${s.amount}`;

/**
 * Moves that turn tokens the forecast lets expire into usage elsewhere, as the API suggests them,
 * each with the exact `move` event that would carry it out.
 */
export function SuggestedMoves({ suggestions, rows, initial = suggestions.length }: Props) {
  const [shown, setShown] = useState<{ event: MoveEvent; summary: string }>();
  const [all, setAll] = useState(false);
  const nameOf = (wallet: WalletRef) => {
    const row = rows.get(walletKey(wallet));
    return row ? walletLabel(row) : wallet.id;
  };
  const listed = all ? suggestions : suggestions.slice(0, initial);
  return (
    <>
      <ol class="suggestion-list">
        {listed.map((suggestion) => {
          const key = suggestionKey(suggestion);
          const summary = `${formatAmount(suggestion.amount)} of lot ${suggestion.lot_id} from ${nameOf(suggestion.from)} to ${nameOf(suggestion.to)}`;
          return (
            <li key={key} class="suggestion" data-suggestion-from={walletKey(suggestion.from)} data-suggestion-to={walletKey(suggestion.to)} data-lot={suggestion.lot_id} data-amount={suggestion.amount}>
              <p>
                Move <strong>{formatAmount(suggestion.amount)}</strong> from <strong>{nameOf(suggestion.from)}</strong> to <strong>{nameOf(suggestion.to)}</strong>
              </p>
              <p class="muted">
                Lot <span class="lot-id">{suggestion.lot_id}</span> expires {formatDate(suggestion.expires_at)} · {nameOf(suggestion.to)} runs out {runsOut(suggestion.to_runs_out_at_before)} →{' '}
                {runsOut(suggestion.to_runs_out_at_after)}
              </p>
              <button
                type="button"
                class="button button-small"
                aria-label={`Show move event: ${summary}`}
                onClick={() => {
                  let eventId = eventIds.get(key);
                  if (!eventId) {
                    eventId = newMoveEventId();
                    eventIds.set(key, eventId);
                  }
                  setShown({ event: moveEventFor(suggestion, eventId, new Date()), summary });
                }}
              >
                Show move event
              </button>
            </li>
          );
        })}
      </ol>
      {listed.length < suggestions.length && (
        <button type="button" class="link-button" onClick={() => setAll(true)}>
          Show all {suggestions.length} suggested moves
        </button>
      )}
      {shown && <MoveEventDialog event={shown.event} summary={shown.summary} onClose={() => setShown(undefined)} />}
    </>
  );
}

/** Every suggested move of the account, on the page itself: the first few (one on a phone), then all on demand. */
export function SuggestedMovesPanel({ suggestions, rows }: { suggestions: MoveSuggestion[]; rows: Map<string, WalletRow> }) {
  if (suggestions.length === 0) return null;
  const saved = suggestions.reduce((sum, s) => sum + toScaled(s.amount), 0n);
  return (
    <section class="suggestions" aria-labelledby="suggestions-title" data-section="suggestions">
      <div class="section-head">
        <h2 id="suggestions-title">Suggested moves</h2>
        <p class="muted">
          {suggestions.length === 1 ? '1 move' : `${suggestions.length} moves`} would put {formatScaled(saved)} tokens to use that the forecast lets expire
        </p>
      </div>
      <SuggestedMoves suggestions={suggestions} rows={rows} initial={matchMedia('(max-width: 600px)').matches ? 1 : 3} />
    </section>
  );
}
