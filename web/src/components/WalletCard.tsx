import { useEffect, useState } from 'preact/hooks';
import { type Api, type ExpiringLot, type UsageSummary, type WalletRow, walletKey, walletLabel } from '../api';
import { formatAmount, toScaled } from '../amount';
import { daysLeftText, formatCount, formatDate, runsOutText } from '../format';
import { runsOutSoon } from '../walletList';
import { Donut } from './Donut';
import { Icon } from './Icon';
import { scheduleSummary } from '../summaryQueue';

interface Props {
  api: Api;
  row: WalletRow;
  nextExpiry?: ExpiringLot;
  version: number;
  scheme: number;
  onOpen: (wallet: string) => void;
}

/** Past-90-day summaries, kept across scrolling; refreshed when balances change, at most every 3 s. */
const summaries = new Map<string, { version: number; at: number; summary: UsageSummary }>();

function useSummary(api: Api, key: string, row: WalletRow, version: number): UsageSummary | undefined {
  const cached = summaries.get(key);
  const [summary, setSummary] = useState(cached?.summary);
  useEffect(() => {
    const entry = summaries.get(key);
    if (entry) setSummary(entry.summary);
    if (entry && (entry.version === version || Date.now() - entry.at < 3000)) return;
    return scheduleSummary(async (signal) => {
      const body = api.check(
        await api.client.GET('/v1/wallets/{type}/{id}/usage-summary', {
          params: { path: { type: row.wallet.type, id: row.wallet.id }, query: { days: '90' } },
          signal,
        }),
      );
      if (!body) return;
      summaries.set(key, { version, at: Date.now(), summary: body });
      if (!signal.aborted) setSummary(body);
    });
  }, [key, version]);
  return summary;
}

/**
 * One wallet: the donut, the past 90 days beside it, when it runs out at the current pace, the next
 * expiry, what is forecast to expire unused, and the way to its details.
 */
export function WalletCard({ api, row, nextExpiry, version, scheme, onOpen }: Props) {
  const key = walletKey(row.wallet);
  const summary = useSummary(api, key, row, version);
  const name = walletLabel(row);
  const headingId = `card-${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  const overage = toScaled(row.overage) > 0n;
  const expiringSoon = toScaled(row.expiring_within_90d) > 0n;
  const unused = toScaled(row.projected_unused_total) > 0n;
  const soon = runsOutSoon(row);
  return (
    <article
      class="card"
      data-wallet={key}
      data-status={row.status}
      data-runs-out-at={row.runs_out_at ?? ''}
      data-projected-unused={row.projected_unused_total}
      data-burn-rate={row.burn_rate_per_day}
      aria-labelledby={headingId}
    >
      <header class="card-head">
        <div class="card-title">
          <h3 id={headingId}>{name}</h3>
          {name !== row.wallet.id && <span class="card-id">{row.wallet.id}</span>}
        </div>
        <span class={`status status-${row.status}`}>
          <Icon name={row.status === 'green' ? 'check' : 'warning'} />
          {row.status === 'green' ? 'Healthy' : 'Low balance'}
        </span>
      </header>
      <div class="card-body" aria-busy={summary ? undefined : true}>
        <Donut total={row.total} used={row.used} available={row.available} status={row.status} scheme={scheme} />
        <dl class="past90">
          <dt>Past 90 days</dt>
          <dd>
            <span class="metric" data-metric="products">{summary ? formatCount(summary.products) : <span class="skeleton" />}</span> {summary?.products === 1 ? 'product' : 'products'}
          </dd>
          <dd>
            <span class="metric" data-metric="users">{summary ? formatCount(summary.users) : <span class="skeleton" />}</span> {summary?.users === 1 ? 'user' : 'users'}
          </dd>
          <dd>
            <span class="metric" data-metric="used-90d">{summary ? formatAmount(summary.used, 0) : <span class="skeleton" />}</span> used
          </dd>
        </dl>
      </div>
      <dl class="card-numbers">
        <div>
          <dt>Available</dt>
          <dd data-field="available">{formatAmount(row.available)}</dd>
        </div>
        <div>
          <dt>Used</dt>
          <dd data-field="used">{formatAmount(row.used)}</dd>
        </div>
        <div>
          <dt>Purchased</dt>
          <dd data-field="total">{formatAmount(row.total)}</dd>
        </div>
      </dl>
      <div class="card-foot">
        <p class={`runs-out ${soon ? 'runs-out-soon' : ''}`} data-field="runs-out" title={`At the past 28 days' pace: ${formatAmount(row.burn_rate_per_day)} a day`}>
          <Icon name="trend" /> {soon ? <strong>{runsOutText(row.runs_out_at)}</strong> : runsOutText(row.runs_out_at)}
        </p>
        <p class={`expiry ${expiringSoon ? 'expiry-soon' : ''}`}>
          {nextExpiry ? (
            <>
              <Icon name="clock" /> <strong>{daysLeftText(nextExpiry.days_left)}</strong> · {formatAmount(nextExpiry.remaining, 0)} expire {formatDate(nextExpiry.expires_at)}
            </>
          ) : (
            'Nothing left to expire'
          )}
        </p>
        {unused && (
          <p class="unused" data-field="projected-unused">
            <Icon name="warning" /> {formatAmount(row.projected_unused_total)} forecast to expire unused
          </p>
        )}
        {overage && (
          <p class="overage">
            <Icon name="warning" /> Overage {formatAmount(row.overage)}
          </p>
        )}
        <button type="button" class="link-button" onClick={() => onOpen(key)} aria-label={`Details and token events of ${name}`}>
          Details
        </button>
      </div>
    </article>
  );
}
