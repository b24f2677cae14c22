/**
 * Five teams whose futures are known, as events dated from `now`: one steady, one about to run
 * out, one dry already, one that lets a lot expire unused, and one that uses nothing.
 */
export const FORECAST_ACCOUNT = 'demo';
const DAY = 86_400_000;

export const TEAMS = {
  steady: 'Steady Team',
  soon: 'Runs Out Soon',
  dry: 'Dry Team',
  waste: 'Wasteful Team',
  idle: 'Idle Team',
} as const;
export type ForecastTeam = keyof typeof TEAMS;

export function forecastEvents(now: number): object[] {
  const at = (days: number) => new Date(now + days * DAY).toISOString();
  const events: object[] = [];
  const purchase = (team: ForecastTeam, lot: string, amount: string, from: number, until: number) =>
    events.push({ event_id: `buy-${lot}`, type: 'purchase', account_id: FORECAST_ACCOUNT, occurred_at: at(from), expires_at: at(until), wallet: { type: 'team', id: team }, wallet_name: TEAMS[team], amount, lot_id: lot });
  const dailyUsage = (team: ForecastTeam, amount: string) => {
    for (let day = 1; day <= 28; day++) {
      events.push({ event_id: `use-${team}-${day}`, type: 'usage', account_id: FORECAST_ACCOUNT, occurred_at: at(-day + 0.01), wallet: { type: 'team', id: team }, amount, user_id: `${team}-user`, product: 'compiler' });
    }
  };

  // 10 a day from a lot of 1,000; an older lot expired unused; 50 moved in from the idle team.
  purchase('steady', 'steady-old', '20', -50, -30);
  purchase('steady', 'steady-main', '1000', -60, 200);
  dailyUsage('steady', '10');
  events.push({ event_id: 'move-idle-steady', type: 'move', account_id: FORECAST_ACCOUNT, occurred_at: at(-5), from: { type: 'team', id: 'idle' }, to: { type: 'team', id: 'steady' }, amount: '50' });
  // 10 a day from 300: 20 left, two days of it.
  purchase('soon', 'soon-main', '300', -60, 200);
  dailyUsage('soon', '10');
  // Used more than it had: nothing left and a positive rate.
  purchase('dry', 'dry-main', '100', -60, 200);
  dailyUsage('dry', '5.5');
  // 1 a day: the lot expiring in 10 days keeps most of its 1,000; the second lot lasts 100 days after it.
  purchase('waste', 'waste-expiring', '1000', -60, 10);
  purchase('waste', 'waste-later', '100', -60, 400);
  dailyUsage('waste', '1');
  // Nothing used; its lot expires after the forecast's horizon.
  purchase('idle', 'idle-main', '500', -70, 800);
  return events;
}
