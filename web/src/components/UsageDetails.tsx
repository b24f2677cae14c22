import { useEffect, useMemo, useState } from 'preact/hooks';
import { type Api, type GroupBy, type UsageAnswer, type UsageQuery, type UsageRow, type WalletRow, parseWalletKey, walletKey, walletLabel } from '../api';
import { amountForGeometry, formatAmount } from '../amount';
import { type ChartOption, themeColor, useChart } from '../charts';
import { browserTimeZone, formatCount, formatDate, localDateInput, localMidnight } from '../format';
import type { ViewState } from '../urlState';

interface Props {
  api: Api;
  rows: WalletRow[];
  view: ViewState;
  update: (change: Partial<ViewState>) => void;
  scheme: number;
}

const collator = new Intl.Collator(undefined, { numeric: true });

type ChartKind = 'service' | 'user' | 'day';

const TITLES: Record<ChartKind, string> = { service: 'Usage by service', user: 'Usage by user', day: 'Daily trend' };

/** The range asked of the API: the custom From/To as local days (To included), or the past 90 days. */
function rangeOf(view: ViewState): { from: string; to: string; custom: boolean } {
  if (view.from && view.to) return { from: localMidnight(view.from).toISOString(), to: localMidnight(view.to, 1).toISOString(), custom: true };
  return { from: 'now-90d', to: 'now', custom: false };
}

function rowKey(row: UsageRow, groupBy: GroupBy): string {
  if (row.others) return 'Others';
  const key = (row as Record<string, unknown>)[groupBy];
  return typeof key === 'string' ? key : '';
}

function labelOf(row: UsageRow, kind: ChartKind): string {
  const key = rowKey(row, kind);
  return kind === 'day' && !row.others ? formatDate(`${key}T12:00:00`) : key;
}

function describe(kind: ChartKind, answer: UsageAnswer): string {
  if (answer.rows.length === 0) return `${TITLES[kind]}: no usage from ${formatDate(answer.from)} to ${formatDate(answer.to)}.`;
  const parts = answer.rows.slice(0, 12).map((row) => `${labelOf(row, kind)} ${formatAmount(row.amount)}`);
  const more = answer.rows.length > 12 ? `, and ${answer.rows.length - 12} more` : '';
  return `${kind === 'day' ? 'Line' : 'Bar'} chart, ${TITLES[kind]} from ${formatDate(answer.from)} to ${formatDate(answer.to)}: ${parts.join('; ')}${more}.`;
}

function chartOption(kind: ChartKind, answer: UsageAnswer): ChartOption {
  const text = themeColor('text-muted');
  const grid = themeColor('border');
  const accent = themeColor('accent');
  const labels = answer.rows.map((row) => labelOf(row, kind));
  const values = answer.rows.map((row) => amountForGeometry(row.amount));
  const exact = answer.rows.map((row) => formatAmount(row.amount));
  const tooltip = {
    trigger: 'axis' as const,
    axisPointer: { type: 'shadow' as const },
    formatter: (params: unknown) => {
      const first = (Array.isArray(params) ? params[0] : params) as { dataIndex: number };
      return `${labels[first.dataIndex] ?? ''}: ${exact[first.dataIndex] ?? ''}`;
    },
  };
  const aria = { enabled: true, label: { description: describe(kind, answer) } };
  if (kind === 'day') {
    return {
      aria,
      tooltip,
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: 'category', data: labels, axisLabel: { color: text, hideOverlap: true }, axisLine: { lineStyle: { color: grid } } },
      yAxis: { type: 'value', axisLabel: { color: text }, splitLine: { lineStyle: { color: grid } } },
      series: [{ type: 'line', data: values, showSymbol: false, lineStyle: { color: accent, width: 2 }, itemStyle: { color: accent }, areaStyle: { color: accent, opacity: 0.12 } }],
    };
  }
  // Largest on top: ECharts draws a category axis from the bottom. "Others" is written under the
  // chart instead of drawn: the sum of every other user dwarfs each top bar.
  const bars = answer.rows.filter((row) => !row.others);
  const barLabels = bars.map((row) => labelOf(row, kind)).reverse();
  return {
    aria,
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: 'value', axisLabel: { color: text, hideOverlap: true }, splitLine: { lineStyle: { color: grid } } },
    tooltip: {
      ...tooltip,
      formatter: (params: unknown) => {
        const first = (Array.isArray(params) ? params[0] : params) as { dataIndex: number };
        const row = bars[bars.length - 1 - first.dataIndex];
        return row ? `${labelOf(row, kind)}: ${formatAmount(row.amount)}` : '';
      },
    },
    yAxis: { type: 'category', data: barLabels, axisLabel: { color: text, width: 120, overflow: 'truncate' }, axisLine: { lineStyle: { color: grid } } },
    series: [
      {
        type: 'bar',
        data: [...bars].reverse().map((row) => ({ value: amountForGeometry(row.amount), itemStyle: { color: accent, borderRadius: [0, 4, 4, 0] } })),
        barMaxWidth: 22,
      },
    ],
  };
}

function UsageChart({ kind, answer, scheme, onCsv }: { kind: ChartKind; answer?: UsageAnswer; scheme: number; onCsv: () => void }) {
  const option = useMemo(() => (answer ? chartOption(kind, answer) : undefined), [answer, scheme]);
  const container = useChart(option, [option]);
  const headingId = `usage-${kind}-title`;
  const loadedRange = answer ? `${answer.from}/${answer.to}` : '';
  const others = answer?.rows.find((row) => row.others);
  return (
    <figure class={`usage-chart usage-${kind}`} aria-labelledby={headingId} data-chart={kind} data-range={loadedRange} data-rows={answer?.rows.length ?? ''}>
      <div class="usage-chart-head">
        <h3 id={headingId}>{TITLES[kind]}</h3>
        <button type="button" class="button button-small" onClick={onCsv} disabled={!answer}>
          Download CSV<span class="sr-only"> of {TITLES[kind].toLowerCase()}</span>
        </button>
      </div>
      <div class={`chart chart-${kind}`} ref={container} role="img" aria-label={answer ? describe(kind, answer) : `${TITLES[kind]}: loading`} />
      {answer && answer.rows.length === 0 && <p class="muted chart-empty">No usage in this range.</p>}
      {others && (
        <p class="chart-others" data-others>
          Others: <strong>{formatAmount(others.amount)}</strong> over {formatCount(others.events)} events, beyond the top {answer?.rows.length ? answer.rows.length - 1 : 0}
        </p>
      )}
      {answer && answer.rows.length > 0 && (
        <details class="chart-table">
          <summary>Show as a table</summary>
          <div class="table-scroll" tabIndex={0} role="region" aria-label={`${TITLES[kind]} as a table, scrollable`}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{kind === 'day' ? 'Day' : kind === 'user' ? 'User' : 'Service'}</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col" class="num">
                    Events
                  </th>
                </tr>
              </thead>
              <tbody>
                {answer.rows.map((row) => (
                  <tr key={rowKey(row, kind)}>
                    <td>{labelOf(row, kind)}</td>
                    <td class="num">{formatAmount(row.amount)}</td>
                    <td class="num">{formatCount(row.events)}</td>
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

/**
 * Usage details at the bottom of the page: by service and by user (top N plus "others") and a
 * daily trend, for one wallet or all, over the past 90 days or a custom From/To range. Each chart
 * downloads as CSV exactly as shown.
 */
export function UsageDetails({ api, rows, view, update, scheme }: Props) {
  const range = rangeOf(view);
  const scope = parseWalletKey(view.scope);
  const tz = browserTimeZone();
  const [answers, setAnswers] = useState<Partial<Record<ChartKind, UsageAnswer>>>({});
  const [error, setError] = useState<string>();
  const today = localDateInput(new Date());
  const [fromInput, setFromInput] = useState(view.from ?? localDateInput(new Date(Date.now() - 90 * 86_400_000)));
  const [toInput, setToInput] = useState(view.to ?? today);

  const queryOf = (kind: ChartKind): UsageQuery => ({
    from: range.from,
    to: range.to,
    group_by: kind,
    tz,
    ...(scope ? { wallet_type: scope.type, wallet_id: scope.id } : {}),
    ...(kind === 'day' ? {} : { limit: String(view.top) }),
  });

  useEffect(() => {
    let cancelled = false;
    setError(undefined);
    for (const kind of ['service', 'user', 'day'] as const) {
      void api.client
        .GET('/v1/usage', { params: { query: queryOf(kind) } })
        .then((result) => {
          const body = api.check(result);
          if (body && !cancelled) setAnswers((current) => ({ ...current, [kind]: body }));
        })
        .catch((err: Error) => {
          if (!cancelled) setError(err.message);
        });
    }
    return () => {
      cancelled = true;
    };
  }, [range.from, range.to, view.scope, view.top]);

  async function downloadCsv(kind: ChartKind) {
    try {
      const result = await api.client.GET('/v1/usage', { params: { query: queryOf(kind) }, headers: { accept: 'text/csv' }, parseAs: 'text' });
      const csv = api.check(result) ?? '';
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const scopeName = scope ? `${scope.type}-${scope.id}` : 'all-wallets';
      const answer = answers[kind];
      const span = answer ? `${answer.from.slice(0, 10)}_${answer.to.slice(0, 10)}` : 'range';
      link.download = `usage-by-${kind}_${scopeName}_${span}.csv`.replace(/[^\w.-]+/g, '-');
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  function applyRange(from: string, to: string) {
    setFromInput(from);
    setToInput(to);
    if (/^\d{4}-\d{2}-\d{2}$/.test(from) && /^\d{4}-\d{2}-\d{2}$/.test(to) && from <= to) update({ from, to });
  }

  const sortedRows = useMemo(() => [...rows].sort((a, b) => collator.compare(walletLabel(a), walletLabel(b))), [rows]);
  const invalidRange = fromInput > toInput;

  return (
    <section class="usage" aria-labelledby="usage-title" data-usage-from={range.from} data-usage-to={range.to}>
      <div class="section-head">
        <h2 id="usage-title">View usage details</h2>
        <p class="muted">
          {scope ? `${walletLabel(rows.find((r) => walletKey(r.wallet) === view.scope) ?? { wallet: scope })}` : 'All wallets'} ·{' '}
          {range.custom ? `${formatDate(localMidnight(view.from as string).toISOString())} – ${formatDate(localMidnight(view.to as string).toISOString())}` : 'past 90 days'}
        </p>
      </div>
      <form class="usage-controls" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>Wallet</span>
          <select value={view.scope ?? ''} onChange={(e) => update({ scope: (e.currentTarget as HTMLSelectElement).value || undefined })}>
            <option value="">All wallets</option>
            {sortedRows.map((row) => (
              <option key={walletKey(row.wallet)} value={walletKey(row.wallet)}>
                {walletLabel(row)} ({row.wallet.type})
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>From</span>
          <input type="date" value={fromInput} max={toInput || today} onChange={(e) => applyRange((e.currentTarget as HTMLInputElement).value, toInput)} aria-invalid={invalidRange} />
        </label>
        <label>
          <span>To</span>
          <input type="date" value={toInput} min={fromInput} onChange={(e) => applyRange(fromInput, (e.currentTarget as HTMLInputElement).value)} aria-invalid={invalidRange} />
        </label>
        <label>
          <span>Top</span>
          <select value={String(view.top)} onChange={(e) => update({ top: Number((e.currentTarget as HTMLSelectElement).value) })}>
            {[5, 10, 20].map((n) => (
              <option key={n} value={String(n)}>
                {n} + others
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          class="button"
          disabled={!range.custom}
          onClick={() => {
            setFromInput(localDateInput(new Date(Date.now() - 90 * 86_400_000)));
            setToInput(today);
            update({ from: undefined, to: undefined });
          }}
        >
          Past 90 days
        </button>
      </form>
      {invalidRange && (
        <p role="alert" class="error">
          “From” must not be after “To”.
        </p>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div class="usage-grid">
        <UsageChart kind="service" answer={answers.service} scheme={scheme} onCsv={() => void downloadCsv('service')} />
        <UsageChart kind="user" answer={answers.user} scheme={scheme} onCsv={() => void downloadCsv('user')} />
        <UsageChart kind="day" answer={answers.day} scheme={scheme} onCsv={() => void downloadCsv('day')} />
      </div>
    </section>
  );
}
