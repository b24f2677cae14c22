import type { Amount } from './amount';
import { amountForGeometry } from './amount';
import type { ExpiringLot, Forecast, HistoryRow, TokenEvent } from './api';
import { localDateInput, localMidnight } from './format';

/**
 * The geometry of the balance history chart, from what the API answers: the daily closing
 * balances, the forecast and the token events. Floats here only place lines on a chart; every
 * number the page writes comes from the API's exact decimal text.
 */
export interface ChartPoint {
  /** Epoch ms. */
  at: number;
  available: number;
}

const DAY_MS = 86_400_000;
/** The projection's horizon (SPEC section 5): a wallet that does not run out is drawn this far at most. */
export const HORIZON_DAYS = 730;

/** Each day's closing available, placed at the end of its local day, or now for today. */
export function historyPoints(rows: readonly HistoryRow[], now: number): ChartPoint[] {
  return rows.map((row) => ({ at: Math.min(localMidnight(row.day, 1).getTime(), now), available: amountForGeometry(row.available) }));
}

/** Where the projection's line ends: at `runs_out_at`, else at the last lot it lets expire, else a month on. */
export function projectionEnd(forecast: Forecast, now: number): number {
  if (forecast.runs_out_at !== null) return Date.parse(forecast.runs_out_at);
  const lastExpiry = Math.max(0, ...forecast.expiring_unused.map((lot) => Date.parse(lot.expires_at)));
  return Math.min(now + HORIZON_DAYS * DAY_MS, Math.max(lastExpiry, now + 30 * DAY_MS));
}

/**
 * The projection as straight segments from today's available: usage falls at the burn rate,
 * each lot the forecast lets expire drops by its `projected_unused` at its `expires_at`, and the
 * line reaches 0 at `runs_out_at`. Between those instants the ledger draws evenly, so straight
 * lines are exact for the lots active now (a lot that starts later is not in today's available).
 */
export function projectionPoints(forecast: Forecast, available: Amount, now: number): ChartPoint[] {
  const ratePerMs = amountForGeometry(forecast.burn_rate_per_day) / DAY_MS;
  const end = projectionEnd(forecast, now);
  let at = now;
  let left = Math.max(0, amountForGeometry(available));
  const points: ChartPoint[] = [{ at, available: left }];
  const expiries = [...forecast.expiring_unused].sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
  for (const lot of expiries) {
    const expiresAt = Date.parse(lot.expires_at);
    if (expiresAt >= end) break;
    left = Math.max(0, left - ratePerMs * (expiresAt - at));
    points.push({ at: expiresAt, available: left });
    left = Math.max(0, left - amountForGeometry(lot.projected_unused));
    points.push({ at: expiresAt, available: left });
    at = expiresAt;
  }
  points.push({ at: end, available: forecast.runs_out_at !== null ? 0 : Math.max(0, left - ratePerMs * (end - at)) });
  return points;
}

/**
 * The even pace: the usage that would use up the next lot to expire exactly by its expiry, as a
 * straight line from today's available to what would then be left (0 when it is the last lot).
 */
export function evenPacePoints(nextExpiry: ExpiringLot | undefined, available: Amount, now: number): ChartPoint[] {
  if (!nextExpiry) return [];
  const start = Math.max(0, amountForGeometry(available));
  const end = Math.max(0, start - amountForGeometry(nextExpiry.remaining));
  return [
    { at: now, available: start },
    { at: Date.parse(nextExpiry.expires_at), available: end },
  ];
}

export type MarkerKind = 'purchased' | 'moved' | 'expired';

export interface Marker extends ChartPoint {
  kind: MarkerKind;
  event: TokenEvent;
}

/** Purchases, moves and expiries on the history line: each at its day's closing available. */
export function eventMarkers(events: readonly TokenEvent[], rows: readonly HistoryRow[], now: number): Marker[] {
  const closing = new Map(rows.map((row) => [row.day, amountForGeometry(row.available)]));
  const markers: Marker[] = [];
  for (const event of events) {
    const at = Date.parse(event.at);
    const available = closing.get(localDateInput(new Date(at)));
    if (available === undefined || at > now) continue;
    markers.push({ at, available, kind: event.type === 'moved_in' || event.type === 'moved_out' ? 'moved' : event.type, event });
  }
  return markers;
}
