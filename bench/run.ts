/**
 * `npm run bench`: every benchmark in its own process (chDB allows one data directory per
 * process). Each prints ratios against a peer measured in the same run.
 *   npm run bench              all of them
 *   npm run bench -- ingest    one by name
 *   npm run bench -- load --seconds 15    options after the names go to every benchmark run
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuTimes } from './harness.js';

/**
 * Each benchmark: its file and its own arguments. Freshness is the load benchmark at a steady
 * 10,000 events/s with a few readers, the rate its goal is stated for; the load run keeps its
 * 32 readers at 5,000 events/s.
 */
const BENCHES: Record<string, { file: string; args: string[] }> = {
  ingest: { file: 'ingest', args: [] },
  balances: { file: 'balances', args: [] },
  page: { file: 'page', args: [] },
  load: { file: 'load', args: ['--record', 'load'] },
  freshness: { file: 'load', args: ['--rate', '10000', '--readers', '4', '--seconds', '30', '--record', 'freshness'] },
  forecast: { file: 'forecast', args: [] },
  reads: { file: 'reads', args: [] },
};
const names = Object.keys(BENCHES);
const selected = process.argv.slice(2).filter((a) => names.includes(a));
const options = process.argv.slice(2).filter((a) => !names.includes(a));
/** Share of CPU time idle over the next `ms`; undefined where the machine does not say. */
async function idleShare(ms: number): Promise<number | undefined> {
  const before = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const after = cpuTimes();
  if (!before || !after || after.total <= before.total) return undefined;
  return (after.idle - before.idle) / (after.total - before.total);
}

/**
 * Lets the machine settle before the next benchmark: the previous one's files are flushed and
 * the disk and merges it left behind quieten (the 10M-event benchmark deletes gigabytes as it
 * exits), for at most a minute.
 */
async function settle(): Promise<void> {
  execFileSync('sync');
  for (let waited = 0; waited < 60_000; waited += 2_000) {
    const idle = await idleShare(2_000);
    if (idle === undefined || idle >= 0.9) return;
  }
  console.log('the machine was still busy after a minute; measuring anyway');
}

let failed = false;
let first = true;
for (const name of selected.length ? selected : names) {
  if (!first) await settle();
  first = false;
  console.log(`\n# bench: ${name}`);
  const bench = BENCHES[name] as { file: string; args: string[] };
  const file = fileURLToPath(new URL(`./${bench.file}.ts`, import.meta.url));
  // Options given on the command line come last and win over a benchmark's own.
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...bench.args, ...options], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed = true;
    console.log(`\nbench ${name} exited ${result.status ?? result.signal}`);
  }
}

/** The goals, against what bench/results.json holds now (this run's figures, or an earlier run's where a benchmark was not run). */
function goals(): Array<Record<string, string>> {
  const file = fileURLToPath(new URL('./results.json', import.meta.url));
  if (!existsSync(file)) return [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const r = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  const q = (name: string) => r.queries?.[name] ?? {};
  const [wallets, one, past, wallet90, account365, forecastOne, suggestions] = ['wallets_list', 'balance_one', 'balance_at_30d_ago', 'usage_90d_by_service', 'usage_365d_by_user_account', 'forecast_one', 'suggestions_moves'].map(q);
  const row = (measure: string, goal: string, figure: string, met: boolean | undefined) => ({ measure, goal, figure, met: met === undefined ? '—' : met ? 'yes' : 'no' });
  const n = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : '?');
  const i = r.ingest ?? {};
  const f = r.freshness ?? {};
  const l = r.load ?? {};
  const fc = r.forecast ?? {};
  const best = Object.entries((r.tables?.best ?? {}) as Record<string, number>);
  const short = best.filter(([, ratio]) => ratio < 2).map(([table]) => table);
  return [
    row('Kafka ingest, `npm start` end to end (its own process)', '≥ 60k events/s', `${n(i.npm_start_events_per_s / 1000)}k/s`, i.npm_start_events_per_s === undefined ? undefined : i.npm_start_events_per_s >= 60_000),
    row('our Kafka worker ÷ the Kafka engine', '≥ 1.0', `${n(i.ours_vs_kafka_engine, 2)} (ours ${n(i.ours_events_per_s / 1000)}k/s, engine ${n(i.kafka_engine_events_per_s / 1000)}k/s)`, i.ours_vs_kafka_engine >= 1),
    row('our worker ÷ plain JSONEachRow insert', '≥ 0.8', n(i.ours_vs_plain_insert, 2), i.ours_vs_plain_insert >= 0.8),
    row('HTTP ingest ÷ plain insert', '≥ 0.8', n(i.http_vs_plain_insert, 2), i.http_vs_plain_insert >= 0.8),
    row('bytes on disk per event, every table', 'rollups together ≤ the raw table', `${n(i.bytes_per_event)} B/event, rollups ${n(i.rollups_vs_raw_bytes, 2)}× raw`, i.rollups_vs_raw_bytes <= 1),
    ...[l, f].map((run) =>
      row(
        `${run.readers ?? '?'} readers + ${run.rate ?? '?'} events/s over Kafka`,
        'stored ≥ 0.99 of the rate; event → API balance ≤ 1 s, → tables ≤ 1.5 s (p99); read p99 ≤ 250 ms',
        `stored ${n(run.stored_ratio, 3)}; API ${n(run.event_to_api_balance_p99_ms, 0)} ms, tables ${n(run.event_to_balance_table_p99_ms, 0)} ms; read p99 ${n(run.read_p99_ms, 0)} ms`,
        run.stored_ratio === undefined ? undefined : run.stored_ratio >= 0.99 && run.event_to_api_balance_p99_ms <= 1000 && run.event_to_balance_table_p99_ms <= 1500 && run.read_p99_ms <= 250,
      ),
    ),
    row('32 readers, nothing arriving', '≥ 3,000 reads/s, p99 ≤ 50 ms', `${n(l.quiet_reads_per_s, 0)} reads/s, p99 ${n(l.quiet_read_p99_ms, 1)} ms`, l.quiet_reads_per_s === undefined ? undefined : l.quiet_reads_per_s >= 3000 && l.quiet_read_p99_ms <= 50),
    row('wallets list p95', '< 100 ms and ≥ 10× a raw replay', `${n(wallets.p95_ms, 2)} ms, ${n(wallets.raw_p50_ms / wallets.p95_ms)}×`, wallets.p95_ms < 100 && wallets.raw_p50_ms / wallets.p95_ms >= 10),
    row('one balance p95', '< 20 ms', `${n(one.p95_ms, 2)} ms`, one.p95_ms < 20),
    row('one wallet’s balance at now−30d p95', '< 50 ms', `${n(past.p95_ms, 2)} ms`, past.p95_ms < 50),
    row('one wallet, usage 90 d by service, p95', '< 20 ms and faster than the raw table', `${n(wallet90.p95_ms, 2)} ms (p50 ${n(wallet90.p50_ms, 2)}; raw p50 ${n(wallet90.raw_p50_ms, 2)})`, wallet90.p95_ms < 20 && wallet90.p50_ms < wallet90.raw_p50_ms),
    row('account, usage 365 d by user, p95', '< 60 ms and ≥ 5× the raw query', `${n(account365.p95_ms, 2)} ms, ${n(account365.raw_p50_ms / account365.p95_ms)}×`, account365.p95_ms < 60 && account365.raw_p50_ms / account365.p95_ms >= 5),
    row('one wallet’s forecast p95', '< 20 ms', `${n(forecastOne.p95_ms, 2)} ms (plain balance read ${n(forecastOne.raw_p95_ms, 2)} ms)`, forecastOne.p95_ms === undefined ? undefined : forecastOne.p95_ms < 20),
    row('suggested moves over every wallet p95', '< 200 ms', `${n(suggestions.p95_ms, 2)} ms (plain balance read ${n(suggestions.raw_p95_ms, 2)} ms)`, suggestions.p95_ms === undefined ? undefined : suggestions.p95_ms < 200),
    row('peak RSS, embedded process, 10M events', 'report; bounded by configuration', `${r.memory?.peak_rss_mb ?? '?'} MB`, undefined),
    row(
      'runs_out_at error, 28-day mean (median / p90)',
      'below the naive peer’s, both',
      `${n(fc.median_abs_error_days, 2)} / ${n(fc.p90_abs_error_days, 2)} days; naive ${n(fc.naive_median_abs_error_days, 2)} / ${n(fc.naive_p90_abs_error_days, 2)}`,
      fc.median_abs_error_days === undefined ? undefined : fc.median_abs_error_days < fc.naive_median_abs_error_days && fc.p90_abs_error_days < fc.naive_p90_abs_error_days,
    ),
    row('runs_out_at error, recent-weighted rate (median / p90)', 'report; offered only if it beats the mean', `${n(fc.ewma_median_abs_error_days, 2)} / ${n(fc.ewma_p90_abs_error_days, 2)} days`, undefined),
    row('every derived table earns its place', 'each buys ≥ 2× on a question it serves', short.length ? `below 2×: ${short.join(', ')}` : `${best.length} tables, each ≥ 2×`, best.length > 0 && short.length === 0),
  ];
}
/** A run told to record nothing leaves bench/results.json as it was: its goals would be another run's. */
const recordsNothing = options.some((a, i) => a === '--record=none' || (a === '--record' && options[i + 1] === 'none'));
const summary = goals();
if (recordsNothing) console.log('\nNothing recorded (--record none): the goals table, read from bench/results.json, is left out.');
else if (summary.length) {
  console.log('\n## Goals (2 cores), from bench/results.json');
  console.table(summary);
}
process.exit(failed ? 1 : 0);
