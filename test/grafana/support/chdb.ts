import type { Store } from '../../../core/clickhouse.js';

export interface SqlResult {
  meta: Array<{ name: string; type: string }>;
  data: Array<Record<string, unknown>>;
}

/**
 * Runs SQL as Grafana's datasource would: table names unqualified, resolved in the datasource's
 * default database (here the test's own).
 */
export async function runAsGrafana(store: Store, sql: string): Promise<SqlResult> {
  const rs = await store.client.query({ query: `USE \`${store.database}\`; ${sql}`, format: 'JSON' });
  return rs.json() as Promise<SqlResult>;
}

export const isNumericType = (type: string) => /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/.test(type);
export const isTimeType = (type: string) => /^(Nullable\()?DateTime/.test(type);

/**
 * What Grafana alerting does with a table answer: every row is a series labelled by its string
 * columns, valued by its one numeric column; reduce (last) and threshold (> 0) fire per series.
 */
export function firingSeries(result: SqlResult): Array<Record<string, string>> {
  const numeric = result.meta.filter((c) => isNumericType(c.type));
  if (numeric.length !== 1) throw new Error(`an alert query must return one numeric column, not ${numeric.map((c) => c.name).join(', ') || 'none'}`);
  const value = (numeric[0] as { name: string }).name;
  const labels = result.meta.filter((c) => c.name !== value).map((c) => c.name);
  return result.data
    .filter((row) => Number(row[value]) > 0)
    .map((row) => Object.fromEntries(labels.map((l) => [l, String(row[l])])));
}
