import { describe, expect, it } from 'vitest';
import { computeLedger, DAY_MS, walletKey, type LotInput, type UsageEvent } from '../../ledger/ledger.js';
import { alertsOf } from '../../readmodels/alerts.js';
import { forecastsOf } from '../../readmodels/forecasts.js';

const NOW = Date.UTC(2026, 5, 1);
const team = (id: string) => walletKey('team', id);
const lot = (id: string, wallet: string, amount: number, expiresInDays: number): LotInput => ({
  lotId: id, eventId: id, wallet: team(wallet), amount: BigInt(amount) * 10_000n, occurredAt: NOW - 100 * DAY_MS, effectiveAt: NOW - 100 * DAY_MS, expiresAt: NOW + expiresInDays * DAY_MS,
});
const used = (id: string, wallet: string, amount: number): UsageEvent => ({ wallet: team(wallet), at: NOW - 10 * DAY_MS, eventId: id, amount: BigInt(amount) * 10_000n });

/** Alerts of a small account whose wallets used `amount` each in the last 28 days. */
function alerts(runsOutDays: number) {
  const ledger = computeLedger({
    at: NOW,
    lots: [lot('l-30', 'thirty', 58, 1000), lot('l-31', 'thirtyone', 59, 1000), lot('l-far', 'far', 500, 100), lot('l-near', 'near', 500, 90)],
    // 28 used: 1 a day. thirty has 30 left, thirtyone 31.
    usageEvents: [used('u1', 'thirty', 28), used('u2', 'thirtyone', 28), used('u3', 'far', 28), used('u4', 'near', 28)],
    usageSegments: [],
    moves: [],
    voided: new Set(),
  });
  const usage = new Map([...ledger.wallets.keys()].map((w) => [w, 28n * 10_000n]));
  return alertsOf(ledger, { forecast: forecastsOf(ledger, usage, 28), runsOutDays })
    .filter((a) => a.type === 'runs_out' || a.type === 'expiring_unused')
    .map((a) => a.key);
}

describe('forecast alerts', () => {
  it('runs_out fires for a wallet that runs out within ALERT_RUNS_OUT_DAYS, the last day included', () => {
    expect(alerts(30).filter((k) => k.startsWith('runs_out'))).toEqual(['runs_out/team/thirty']);
    expect(alerts(31).filter((k) => k.startsWith('runs_out'))).toEqual(['runs_out/team/thirty', 'runs_out/team/thirtyone']);
    expect(alerts(29).filter((k) => k.startsWith('runs_out'))).toEqual([]);
  });

  it('expiring_unused fires for a lot expiring within 90 days that the projection leaves something in, and not for one after', () => {
    expect(alerts(30).filter((k) => k.startsWith('expiring_unused'))).toEqual(['expiring_unused/team/near']);
  });
});
