import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, BalanceHistory as History, ExpiringLot, Forecast, TokenEvent, WalletRef } from '../api';
import { formatAmount } from '../amount';
import { type ChartPoint, evenPacePoints, eventMarkers, historyPoints, type Marker, type MarkerKind, projectionPoints } from '../balanceProjection';
import { type ChartOption, themeColor, useChart } from '../charts';
import { browserTimeZone, formatCount, formatDate, localDateInput, localMidnight, runsOutText } from '../format';
import { HISTORY_DAYS, type HistoryDays } from '../urlState';

interface Props {
  api: Api;
  wallet: WalletRef;
  name: string;
  /** Today's available, as the wallet list says. */
  available: string;
  forecast?: Forecast;
  nextExpiry?: ExpiringLot;
  days: HistoryDays;
  onDays: (days: HistoryDays) => void;
  /** Changes when the wallet's balance does: the history and events are read again. */
  signature: string;
  scheme: number;
}

const MARKERS: Record<MarkerKind, { label: string; symbol: string; color: string }> = {
  purchased: { label: 'Purchases', symbol: 'triangle', color: 'ok' },
  moved: { label: 'Moves', symbol: 'diamond', color: 'warn' },
  expired: { label: 'Expiries', symbol: 'rect', color: 'danger' },
};
const EVENT_WORD: Record<TokenEvent['type'], string> = { purchased: 'Purchased', expired: 'Expired', moved_in: 'Moved in', moved_out: 'Moved out' };
const SPAN_LABEL: Record<HistoryDays, string> = { 30: 'Past 30 days', 90: 'Past 90 days', 365: 'Past year' };

interface Geometry {
  history: ChartPoint[];
  projection: ChartPoint[];
  evenPace: ChartPoint[];
  markers: Marker[];
  now: number;
}

const approx = (n: number) => `≈ ${formatCount(Math.round(n))}`;
const plural = (n: number, one: string, many: string) => `${formatCount(n)} ${n === 1 ? one : many}`;

function describe(name: string, history: History, geometry: Geometry, forecast: Forecast | undefined, nextExpiry: ExpiringLot | undefined): string {
  const first = history.rows[0];
  const last = history.rows[history.rows.length - 1];
  const parts = [`Line chart, balance history of ${name}`];
  if (first && last) parts.push(`available ${formatAmount(first.available)} at the end of ${formatDate(`${first.day}T12:00:00`)} and ${formatAmount(last.available)} at the end of ${formatDate(`${last.day}T12:00:00`)}`);
  if (forecast) parts.push(`dashed projection at ${formatAmount(forecast.burn_rate_per_day)} a day: ${runsOutText(forecast.runs_out_at).toLowerCase()}`);
  if (nextExpiry) parts.push(`dotted even pace to use the lot expiring ${formatDate(nextExpiry.expires_at)} by then`);
  const count = (kind: MarkerKind) => geometry.markers.filter((m) => m.kind === kind).length;
  parts.push(`${plural(count('purchased'), 'purchase', 'purchases')}, ${plural(count('moved'), 'move', 'moves')} and ${plural(count('expired'), 'expiry', 'expiries')} marked`);
  return `${parts.join('; ')}.`;
}

/**
 * The time axis runs from the first day to the projection's end, and to the even pace's end when
 * that is no further ahead than the history reaches back: an even pace to a far expiry is cut
 * there rather than squeezing the history.
 */
function axisEnd(geometry: Geometry, days: number): number {
  const span = days * 86_400_000;
  const projected = geometry.projection[geometry.projection.length - 1]?.at ?? geometry.now;
  const evenPace = geometry.evenPace[geometry.evenPace.length - 1]?.at ?? geometry.now;
  return Math.max(projected, Math.min(evenPace, geometry.now + span), geometry.now + span / 3);
}

function chartOption(history: History, geometry: Geometry, description: string, days: number): ChartOption {
  const text = themeColor('text-muted');
  const grid = themeColor('border');
  const accent = themeColor('accent');
  const pace = themeColor('text-muted');
  const pair = (p: ChartPoint) => [p.at, p.available];
  const exactHistory = history.rows.map((row) => `${formatDate(`${row.day}T12:00:00`)}: ${formatAmount(row.available)} available`);
  const markerSeries = (Object.keys(MARKERS) as MarkerKind[]).map((kind) => {
    const list = geometry.markers.filter((m) => m.kind === kind);
    return {
      id: kind,
      name: MARKERS[kind].label,
      type: 'scatter' as const,
      symbol: MARKERS[kind].symbol,
      symbolSize: 11,
      z: 5,
      itemStyle: { color: themeColor(MARKERS[kind].color), borderColor: themeColor('surface'), borderWidth: 1 },
      data: list.map(pair),
      tooltip: {
        formatter: (params: unknown) => {
          const marker = list[(params as { dataIndex: number }).dataIndex];
          if (!marker) return '';
          const lots = marker.event.lots.map((lot) => lot.lot_id).join(', ');
          return `${formatDate(marker.event.at)}: ${EVENT_WORD[marker.event.type]} ${formatAmount(marker.event.amount)}${lots ? ` (${lots})` : ''}`;
        },
      },
    };
  });
  const projected = (label: string, points: ChartPoint[]) => (params: unknown) => {
    const point = points[(params as { dataIndex: number }).dataIndex];
    return point ? `${label}, ${formatDate(new Date(point.at).toISOString())}: ${approx(point.available)}` : '';
  };
  return {
    aria: { enabled: true, label: { description } },
    tooltip: { trigger: 'item', confine: true },
    grid: { left: 8, right: 20, top: 16, bottom: 8, containLabel: true },
    xAxis: { type: 'time', max: axisEnd(geometry, days), axisLabel: { color: text, hideOverlap: true }, axisLine: { lineStyle: { color: grid } }, splitLine: { show: false } },
    yAxis: { type: 'value', min: 0, axisLabel: { color: text }, splitLine: { lineStyle: { color: grid } } },
    series: [
      {
        id: 'available',
        name: 'Available',
        type: 'line',
        data: geometry.history.map(pair),
        showSymbol: false,
        symbolSize: 6,
        lineStyle: { color: accent, width: 2 },
        itemStyle: { color: accent },
        areaStyle: { color: accent, opacity: 0.1 },
        tooltip: { formatter: (params: unknown) => exactHistory[(params as { dataIndex: number }).dataIndex] ?? '' },
        markLine: {
          silent: true,
          symbol: 'none',
          label: { formatter: 'Today', color: text, position: 'insideEndTop' },
          lineStyle: { color: text, type: 'solid', width: 1, opacity: 0.5 },
          data: [{ xAxis: geometry.now }],
        },
      },
      {
        id: 'projection',
        name: 'Projection',
        type: 'line',
        data: geometry.projection.map(pair),
        showSymbol: false,
        lineStyle: { color: accent, width: 2, type: 'dashed' },
        itemStyle: { color: accent },
        tooltip: { formatter: projected('Projected', geometry.projection) },
      },
      {
        id: 'even-pace',
        name: 'Even pace',
        type: 'line',
        data: geometry.evenPace.map(pair),
        showSymbol: false,
        lineStyle: { color: pace, width: 1.5, type: 'dotted' },
        itemStyle: { color: pace },
        tooltip: { formatter: projected('Even pace', geometry.evenPace) },
      },
      ...markerSeries,
    ],
  };
}

/**
 * The wallet's balance over the chosen span, day by day, with what comes next: the projection at
 * the current pace (dashed) down to its run-out, the even pace that would use the next expiring
 * lot by its expiry (dotted), and the purchases, moves and expiries on the way.
 */
export function BalanceHistory({ api, wallet, name, available, forecast, nextExpiry, days, onDays, signature, scheme }: Props) {
  const [history, setHistory] = useState<History>();
  const [events, setEvents] = useState<TokenEvent[]>([]);
  const [error, setError] = useState<string>();

  useEffect(() => {
    let cancelled = false;
    const from = localMidnight(localDateInput(new Date()), 1 - days).toISOString();
    const to = new Date().toISOString();
    const path = { type: wallet.type, id: wallet.id };
    Promise.all([
      api.client.GET('/v1/wallets/{type}/{id}/history', { params: { path, query: { from, to, tz: browserTimeZone() } } }).then((result) => api.check(result)),
      api.client.GET('/v1/wallets/{type}/{id}/events', { params: { path, query: { from, to, limit: '1000' } } }).then((result) => api.check(result)),
    ])
      .then(([answer, page]) => {
        if (cancelled) return;
        if (answer) setHistory(answer);
        if (page) setEvents(page.events);
        setError(undefined);
      })
      .catch((err: Error) => {
        if (!cancelled) setError(err.message);
      });
    return () => {
      cancelled = true;
    };
  }, [wallet.type, wallet.id, days, signature]);

  const geometry = useMemo<Geometry | undefined>(() => {
    if (!history) return undefined;
    const now = forecast ? Date.parse(forecast.at) : Date.now();
    return {
      now,
      history: historyPoints(history.rows, now),
      projection: forecast ? projectionPoints(forecast, available, now) : [],
      evenPace: evenPacePoints(nextExpiry, available, now),
      markers: eventMarkers(events, history.rows, now),
    };
  }, [history, events, forecast, nextExpiry, available]);
  const description = history && geometry ? describe(name, history, geometry, forecast, nextExpiry) : `Balance history of ${name}: loading`;
  const option = useMemo(() => (history && geometry ? chartOption(history, geometry, description, days) : undefined), [geometry, scheme]);
  const container = useChart(option, [option]);
  const count = (kind: MarkerKind) => geometry?.markers.filter((m) => m.kind === kind).length ?? 0;
  const projectionEnd = geometry?.projection[geometry.projection.length - 1];

  return (
    <figure
      class="balance-history"
      aria-labelledby="history-title"
      data-chart="balance-history"
      data-history-rows={history?.rows.length ?? ''}
      data-projection-points={geometry?.projection.length ?? ''}
      data-projection-end={projectionEnd ? new Date(projectionEnd.at).toISOString() : ''}
      data-even-pace-until={nextExpiry?.expires_at ?? ''}
      data-purchases={count('purchased')}
      data-moves={count('moved')}
      data-expiries={count('expired')}
    >
      <div class="usage-chart-head">
        <h3 id="history-title">Balance history</h3>
        <label class="history-span">
          <span class="sr-only">Span of the balance history</span>
          <select value={String(days)} onChange={(e) => onDays(Number((e.currentTarget as HTMLSelectElement).value) as HistoryDays)}>
            {HISTORY_DAYS.map((n) => (
              <option key={n} value={String(n)}>
                {SPAN_LABEL[n]}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="chart chart-history" ref={container} role="img" aria-label={description} />
      <ul class="chart-legend" aria-label="Legend">
        <li>
          <span class="swatch swatch-available" aria-hidden="true" /> Available at each day's end
        </li>
        {forecast && (
          <li>
            <span class="swatch swatch-projection" aria-hidden="true" /> Projection at {formatAmount(forecast.burn_rate_per_day)} a day
          </li>
        )}
        {nextExpiry && (
          <li>
            <span class="swatch swatch-pace" aria-hidden="true" /> Even pace to use the lot expiring {formatDate(nextExpiry.expires_at)}
          </li>
        )}
        {(Object.keys(MARKERS) as MarkerKind[]).map((kind) => (
          <li key={kind}>
            <span class={`marker marker-${kind}`} aria-hidden="true" /> {MARKERS[kind].label} ({formatCount(count(kind))})
          </li>
        ))}
      </ul>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {history && history.rows.length > 0 && (
        <details class="chart-table">
          <summary>Show as a table</summary>
          <div class="table-scroll" tabIndex={0} role="region" aria-label="Balance history as a table, scrollable">
            <table>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col" class="num">
                    Available
                  </th>
                  <th scope="col" class="num">
                    Used
                  </th>
                  <th scope="col" class="num">
                    Total
                  </th>
                  <th scope="col" class="num">
                    Expired
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...history.rows].reverse().map((row) => (
                  <tr key={row.day}>
                    <td>{formatDate(`${row.day}T12:00:00`)}</td>
                    <td class="num">{formatAmount(row.available)}</td>
                    <td class="num">{formatAmount(row.used)}</td>
                    <td class="num">{formatAmount(row.total)}</td>
                    <td class="num">{formatAmount(row.expired)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </figure>
  );
}
