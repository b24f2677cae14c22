/**
 * An account of a thousand teams, for the page's search, filters and virtualised grid and for
 * the page benchmark: every team bought one lot; every fifth spent nearly all of it (red), every
 * seventh spent more than it had (overage), every ninth holds a lot expiring within 90 days.
 */
export const THOUSAND_ACCOUNT = 'acme';
export const THOUSAND_TEAMS = 1000;

const DAY = 86_400_000;
const CITIES = ['Berlin', 'Lisbon', 'Austin', 'Osaka', 'Nairobi', 'Toronto', 'Pune', 'Oslo'];

export const teamId = (i: number) => `t-${String(i).padStart(4, '0')}`;
export const teamName = (i: number) => `Squad ${String(i).padStart(4, '0')} ${CITIES[i % CITIES.length]}`;

export function thousandWalletEvents(now = Date.now()): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  for (let i = 0; i < THOUSAND_TEAMS; i++) {
    const wallet = { type: 'team', id: teamId(i) };
    const expiresAt = i % 9 === 0 ? now + (10 + (i % 80)) * DAY : now + 300 * DAY;
    events.push({
      event_id: `k-buy-${i}`,
      type: 'purchase',
      account_id: THOUSAND_ACCOUNT,
      occurred_at: iso(now - 60 * DAY),
      expires_at: iso(expiresAt),
      wallet,
      wallet_name: teamName(i),
      amount: String(1000 + (i % 50) * 100),
      lot_id: `L-${i}`,
    });
    const spent = i % 7 === 0 ? 1.25 : i % 5 === 0 ? 0.9 : 0.1 + (i % 10) * 0.05;
    events.push({
      event_id: `k-use-${i}`,
      type: 'usage',
      account_id: THOUSAND_ACCOUNT,
      occurred_at: iso(now - 10 * DAY - (i % 20) * 3_600_000),
      wallet,
      amount: ((1000 + (i % 50) * 100) * spent).toFixed(2),
      user_id: `u-${i % 37}`,
      product: ['compiler', 'debugger', 'profiler'][i % 3],
    });
  }
  return events;
}
