/**
 * What one insert into `events_v1` costs the machine, by the number of events it carries: the
 * process's CPU (embedded ClickHouse's threads included) from the insert's start until the
 * merges it set off have ended, against its peer, the same insert into a table of the same
 * columns, indexes and projection with no view over it. A Kafka flush writes one such insert per
 * partition with records (ingest/kafkaWorker.ts), so this says what a partition costs a stream.
 */
import { insertStatement, type Store } from '../core/clickhouse.js';
import { fmt, mergesSettled, percentile, report } from './harness.js';

export interface InsertCostFigures {
  rounds: number;
  /** Per block size: CPU ms per insert, with views and without, per event, and the kernel's share of it. */
  by_block: Record<string, { cpu_ms_per_insert: number; cpu_us_per_event: number; no_views_cpu_ms_per_insert: number; views_share: number; kernel_share: number }>;
}

/** The process's CPU so far, and the part of it spent in the kernel (files made and removed, for the most part), in ms. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return { total: (u.user + u.system) / 1000, kernel: u.system / 1000 };
};

/** Merges end soon after these small inserts: polled often, so each round's CPU window closes with them. */
const settled = (store: Store) => mergesSettled(store, { pollMs: 20 });

/** `lines`: events as the pipeline stores them (JSONEachRow rows of events_v1). */
export async function measureInsertCost(options: { store: Store; lines: string[]; blockSizes: number[]; rounds: number }): Promise<InsertCostFigures> {
  const { store, lines } = options;
  const bare = `${store.database}.events_bare_v1`;
  await store.command(`CREATE TABLE IF NOT EXISTS ${bare} AS ${store.table('events_v1')}`);
  const inserts = 8;
  let at = 0;
  let token = 0;
  const take = (n: number) => {
    const rows: string[] = [];
    for (let i = 0; i < n; i++) rows.push(lines[at++ % lines.length] as string);
    return rows.join('\n');
  };
  /** CPU per insert of `size` events into `table`, its merges included, and the kernel's share of it. */
  const cost = async (table: string, size: number) => {
    await settled(store);
    const started = cpuMs();
    for (let i = 0; i < inserts; i++) {
      // A token of its own: rows repeated from an earlier round are stored again, not dropped.
      await store.command(`${insertStatement(table, { token: `cost-${token++}` })} ${take(size)}`);
    }
    await settled(store);
    const ended = cpuMs();
    return { ms: (ended.total - started.total) / inserts, kernel: (ended.kernel - started.kernel) / (ended.total - started.total) };
  };
  const figures: InsertCostFigures = { rounds: options.rounds, by_block: {} };
  for (const size of options.blockSizes) {
    const withViews: number[] = [];
    const without: number[] = [];
    const kernel: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Alternating, so neither side always runs on the warmer or the more merged store.
      for (const views of round % 2 === 0 ? [true, false] : [false, true]) {
        const c = await cost(views ? store.table('events_v1') : bare, size);
        if (!views) without.push(c.ms);
        else {
          withViews.push(c.ms);
          kernel.push(c.kernel);
        }
      }
    }
    const ms = percentile(withViews, 50);
    const bareMs = percentile(without, 50);
    figures.by_block[String(size)] = {
      cpu_ms_per_insert: fmt(ms, 1),
      cpu_us_per_event: fmt((1000 * ms) / size, 1),
      no_views_cpu_ms_per_insert: fmt(bareMs, 1),
      views_share: fmt(1 - bareMs / ms, 2),
      kernel_share: fmt(percentile(kernel, 50), 2),
    };
  }
  await store.command(`DROP TABLE IF EXISTS ${bare} SYNC`);
  await settled(store);
  return figures;
}

export function reportInsertCost(f: InsertCostFigures): void {
  report(
    `CPU of one insert into events_v1 and every view over it, its merges included (median of ${f.rounds} rounds of 8 inserts), against the same insert into a table with no view`,
    Object.entries(f.by_block).map(([size, x]) => ({
      'events per insert': Number(size),
      'CPU ms per insert': x.cpu_ms_per_insert,
      'CPU µs per event': x.cpu_us_per_event,
      'no views: CPU ms per insert': x.no_views_cpu_ms_per_insert,
      'share of it the views take': x.views_share,
      'share of it in the kernel': x.kernel_share,
    })),
  );
}
