import type { IncomingMessage, IngestPipeline } from './pipeline.js';

/**
 * A realistic demo account, loaded through the ingest pipeline like any other events:
 * 20 teams and 4 contracts, lots of several sizes and terms (some expired, some expiring within
 * 90 days, most later), 13 months of usage by 200 users over 12 products, a few teams in
 * overage, moves and voids. At the current pace (SPEC section 5) two teams run out within the
 * month (one topped up after running dry, one whose usage surged after a launch), most teams let
 * part of a lot expire unused, so moves between them are suggested. Event ids are fixed, so
 * loading it twice stores it once.
 */
export const DEMO_ACCOUNT = 'demo';

const TEAMS = [
  'platform', 'mobile', 'web', 'data', 'ml-research', 'security', 'infra', 'payments', 'search', 'growth',
  'design', 'qa', 'devex', 'analytics', 'support-tools', 'identity', 'messaging', 'maps', 'video', 'edge',
];
const CONTRACTS = ['apac', 'latam', 'mena', 'africa'];
/** Display names, as the purchases carry them in `wallet_name`. */
const NAMES: Record<string, string> = {
  platform: 'Platform Engineering', mobile: 'Mobile Apps', web: 'Web Frontend', data: 'Data Engineering',
  'ml-research': 'ML Research', security: 'Security & Compliance', infra: 'Infrastructure', payments: 'Payments',
  search: 'Search & Discovery', growth: 'Growth', design: 'Design Systems', qa: 'Quality Assurance',
  devex: 'Developer Experience', analytics: 'Product Analytics', 'support-tools': 'Support Tooling',
  identity: 'Identity & Access', messaging: 'Messaging', maps: 'Maps & Location', video: 'Video Streaming',
  edge: 'Edge Network', apac: 'APAC Cloud Credits (Singapore)', latam: 'LATAM Cloud Credits (São Paulo)',
  mena: 'MENA Cloud Credits (Dubai)', africa: 'Africa Cloud Credits (Johannesburg)',
};
const PRODUCTS: Array<[string, string[]]> = [
  ['compiler', ['compiler-cloud', 'compiler-local']],
  ['debugger', ['debugger']],
  ['profiler', ['profiler']],
  ['simulator', ['simulator-gpu', 'simulator-cpu']],
  ['static-analysis', ['static-analysis']],
  ['test-runner', ['test-runner']],
  ['code-search', ['code-search']],
  ['ai-assistant', ['ai-chat', 'ai-completion']],
  ['renderer', ['renderer']],
  ['translator', ['translator']],
  ['build-cache', ['build-cache']],
  ['license-server', ['license-server']],
];
const DAY = 86_400_000;
const SIZES = [5_000, 10_000, 25_000, 50_000];
/** Teams that buy too little and run into overage. */
const HUNGRY = ['ml-research', 'video', 'apac'];
/**
 * A hungry team that bought a top-up 6 days ago, sized to last about this many more days at its
 * pace of the last 4 weeks: its card says it runs out within the month, and lots other teams will
 * let expire are suggested to it.
 */
const TOP_UP_RUNWAY_DAYS: Record<string, number> = { video: 9 };
/** A team whose usage grew this many times over since a launch this many days ago, outrunning what it bought. */
const SURGES: Record<string, { daysAgo: number; factor: number }> = { messaging: { daysAgo: 56, factor: 4 } };
const TOP_UP_DAYS_AGO = 6;

/** Deterministic, so the same ids carry the same content on every load (mulberry32). */
export function prng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

export function demoEvents(now: number): Array<Record<string, unknown>> {
  const rand = prng(20_261_128);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)] as T;
  // Anchored to midnight so lots start and end on day boundaries, as real orders do.
  const today = Math.floor(now / DAY) * DAY;
  const start = today - 395 * DAY;
  const events: Array<Record<string, unknown>> = [];
  const wallets = [
    ...TEAMS.map((id) => ({ type: 'team', id })),
    ...CONTRACTS.map((id) => ({ type: 'contract', id })),
  ];
  const users = Array.from({ length: 200 }, (_, i) => `user-${String(i + 1).padStart(3, '0')}`);

  wallets.forEach((wallet, w) => {
    const usersOfWallet = users.filter((_, u) => u % wallets.length === w || rand() < 0.04);
    // Monthly burn relative to what is bought.
    const hungry = HUNGRY.includes(wallet.id);
    let bought = 0;
    const purchases = 3 + Math.floor(rand() * 3);
    for (let p = 0; p < purchases; p++) {
      const size = pick(SIZES);
      // The first order predates the first usage, so only the hungry teams go into overage.
      const effective = start + Math.floor((p / purchases) * 360 + (p === 0 ? -30 : rand() * 20)) * DAY;
      const termDays = pick([365, 400, 450, 540]);
      const expiresAt = effective + termDays * DAY;
      bought += size;
      events.push({
        event_id: `demo-${wallet.type}-${wallet.id}-lot-${p + 1}`,
        type: 'purchase',
        account_id: DEMO_ACCOUNT,
        occurred_at: iso(effective - 2 * DAY),
        effective_at: iso(effective),
        expires_at: iso(expiresAt),
        wallet,
        wallet_name: NAMES[wallet.id],
        amount: String(size),
        lot_id: `${wallet.id.toUpperCase()}-${p + 1}`,
        sku: `flex-${size / 1000}k`,
        order_id: `SO-${10_000 + w * 10 + p}`,
      });
    }
    // A lot that runs out soon, so the expiring view has something to show.
    events.push({
      event_id: `demo-${wallet.type}-${wallet.id}-lot-soon`,
      type: 'purchase',
      account_id: DEMO_ACCOUNT,
      occurred_at: iso(today - 40 * DAY),
      effective_at: iso(today - 40 * DAY),
      expires_at: iso(today + (15 + w * 3) * DAY),
      wallet,
      amount: String(pick([10_000, 20_000])),
      lot_id: `${wallet.id.toUpperCase()}-Q`,
    });
    const monthlyBurn = (bought / 13) * (hungry ? 1.6 : 0.35 + rand() * 0.4);
    const eventsPerDay = 8 + Math.floor(rand() * 10);
    /** Usage of the last 28 days, the window of the forecast's burn rate. */
    let recentUsage = 0;
    const surge = SURGES[wallet.id];
    for (let day = 0; day < 395; day++) {
      const perEvent = (monthlyBurn / 30 / eventsPerDay) * (surge && day >= 395 - surge.daysAgo ? surge.factor : 1);
      for (let e = 0; e < eventsPerDay; e++) {
        const [product, services] = pick(PRODUCTS);
        const occurredAt = start + day * DAY + Math.floor(rand() * DAY);
        const amount = (perEvent * (0.2 + rand() * 1.6)).toFixed(2);
        if (day >= 395 - 28) recentUsage += Number(amount);
        events.push({
          event_id: `demo-u-${w}-${day}-${e}`,
          type: 'usage',
          account_id: DEMO_ACCOUNT,
          occurred_at: iso(occurredAt),
          wallet,
          amount,
          user_id: pick(usersOfWallet.length ? usersOfWallet : users),
          product,
          service: pick(services),
        });
      }
    }
    const runway = TOP_UP_RUNWAY_DAYS[wallet.id];
    if (runway !== undefined) {
      // Ordered in round thousands, as a finance team would; the forecast shows what that buys.
      const amount = Math.round(((recentUsage / 28) * (runway + TOP_UP_DAYS_AGO)) / 1000) * 1000;
      events.push({
        event_id: `demo-${wallet.type}-${wallet.id}-lot-top-up`,
        type: 'purchase',
        account_id: DEMO_ACCOUNT,
        occurred_at: iso(today - TOP_UP_DAYS_AGO * DAY),
        effective_at: iso(today - TOP_UP_DAYS_AGO * DAY),
        expires_at: iso(today + 365 * DAY),
        wallet,
        amount: String(amount),
        lot_id: `${wallet.id.toUpperCase()}-T`,
        sku: 'flex-top-up',
        order_id: `SO-${10_000 + w * 10 + 9}`,
      });
    }
  });

  const moves: Array<[string, string, number, string | undefined, number | undefined]> = [
    ['platform', 'mobile', 200, undefined, 3_000],
    ['data', 'ml-research', 150, 'DATA-1', undefined],
    ['infra', 'edge', 90, undefined, 1_500],
    ['payments', 'identity', 60, undefined, 800],
    ['growth', 'analytics', 30, 'GROWTH-Q', undefined],
    ['search', 'video', 10, undefined, 2_000],
  ];
  moves.forEach(([from, to, daysAgo, lotId, amount], i) => {
    events.push({
      event_id: `demo-move-${i + 1}`,
      type: 'move',
      account_id: DEMO_ACCOUNT,
      occurred_at: iso(today - daysAgo * DAY + 10 * 3_600_000),
      from: { type: 'team', id: from },
      to: { type: 'team', id: to },
      ...(lotId ? { lot_id: lotId } : {}),
      ...(amount ? { amount: String(amount) } : {}),
    });
  });

  // Corrections: a few usage events billed twice by mistake, and one order entered in error.
  for (const [i, target] of ['demo-u-0-100-1', 'demo-u-3-200-2', 'demo-u-7-300-0', 'demo-u-12-350-3', 'demo-u-20-380-1'].entries()) {
    events.push({ event_id: `demo-void-${i + 1}`, type: 'void', account_id: DEMO_ACCOUNT, occurred_at: iso(today - 5 * DAY), voids_event_id: target });
  }
  events.push({
    event_id: 'demo-void-order',
    type: 'void',
    account_id: DEMO_ACCOUNT,
    occurred_at: iso(today - 3 * DAY),
    voids_event_id: 'demo-team-qa-lot-1',
  });
  return events;
}

export interface DemoReport {
  events: number;
  accepted: number;
  duplicates: number;
}

/**
 * Loads the demo account through the pipeline, in batches; a second load stores nothing. The
 * demo's dates follow the day it is made, so a later load is told apart by its first event: if
 * that is stored already, in whatever version, the demo is there and nothing more is sent.
 */
export async function loadDemo(pipeline: IngestPipeline, now = Date.now()): Promise<DemoReport> {
  const events = demoEvents(now);
  const report: DemoReport = { events: events.length, accepted: 0, duplicates: 0 };
  const [probe] = (await pipeline.ingest([{ text: JSON.stringify(events[0]) }], { source: 'demo' })).outcomes;
  if (probe?.status !== 'accepted') return { ...report, duplicates: events.length };
  report.accepted = 1;
  const batchSize = 20_000;
  for (let i = 1; i < events.length; i += batchSize) {
    const messages: IncomingMessage[] = events.slice(i, i + batchSize).map((e) => ({ text: JSON.stringify(e) }));
    const result = await pipeline.ingest(messages, { source: 'demo' });
    if (result.rejected > 0) {
      const first = result.outcomes.find((o) => o.status === 'rejected');
      throw new Error(`demo data was rejected: ${JSON.stringify(first)}`);
    }
    report.accepted += result.accepted;
    report.duplicates += result.duplicates;
  }
  return report;
}
