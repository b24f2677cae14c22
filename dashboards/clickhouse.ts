import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';

/**
 * The ClickHouse plugin's panel target (`grafana-clickhouse-datasource` v4), which the foundation
 * SDK does not model. A target without `pluginVersion` would be migrated as a v3 query.
 */
export const CLICKHOUSE_PLUGIN = 'grafana-clickhouse-datasource';
export const CLICKHOUSE_PLUGIN_VERSION = '4.20.0';
/** The provisioned datasource (`provisioning/datasources/clickhouse.yaml`). */
export const DATASOURCE_UID = 'balances-clickhouse';
export const DATASOURCE: common.DataSourceRef = { type: CLICKHOUSE_PLUGIN, uid: DATASOURCE_UID };

/** 0 time series, 1 table, 2 logs, 3 traces. */
export enum ClickHouseFormat {
  TimeSeries = 0,
  Table = 1,
}

export type ClickHouseQueryType = 'table' | 'timeseries';

export interface ClickHouseQuery extends cog.Dataquery {
  refId: string;
  datasource: common.DataSourceRef;
  editorType: 'sql';
  rawSql: string;
  format: ClickHouseFormat;
  queryType: ClickHouseQueryType;
  pluginVersion: string;
}

/** The target as JSON: what Grafana stores and what `clickhouseTargetSchema` validates. */
export type ClickHouseTarget = Omit<ClickHouseQuery, '_implementsDataqueryVariant'>;

/** The project's own JSON Schema for a ClickHouse target (the dashboard schema leaves targets free-form). */
export const clickhouseTargetSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  additionalProperties: false,
  required: ['refId', 'datasource', 'editorType', 'rawSql', 'format', 'queryType', 'pluginVersion'],
  properties: {
    refId: { type: 'string', pattern: '^[A-Z]$' },
    datasource: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'uid'],
      properties: { type: { const: CLICKHOUSE_PLUGIN }, uid: { type: 'string', minLength: 1 } },
    },
    editorType: { const: 'sql' },
    rawSql: { type: 'string', minLength: 1 },
    format: { enum: [0, 1] },
    queryType: { enum: ['table', 'timeseries'] },
    pluginVersion: { type: 'string', pattern: '^4\\.\\d+\\.\\d+$' },
  },
} as const;

/** A typed builder for one ClickHouse SQL target: `clickhouse('A').table(sql)`. */
export class ClickHouseQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly query: ClickHouseTarget;

  constructor(refId: string) {
    this.query = {
      refId,
      datasource: DATASOURCE,
      editorType: 'sql',
      rawSql: '',
      format: ClickHouseFormat.Table,
      queryType: 'table',
      pluginVersion: CLICKHOUSE_PLUGIN_VERSION,
    };
  }

  /** Rows as they come: tables, bar charts, pie charts, and alert rules. */
  table(rawSql: string): this {
    return this.with({ rawSql: sql(rawSql), format: ClickHouseFormat.Table, queryType: 'table' });
  }

  /** A `time` column and values: time series panels. */
  timeSeries(rawSql: string): this {
    return this.with({ rawSql: sql(rawSql), format: ClickHouseFormat.TimeSeries, queryType: 'timeseries' });
  }

  private with(fields: Partial<ClickHouseTarget>): this {
    Object.assign(this.query, fields);
    return this;
  }

  build(): ClickHouseQuery {
    return { ...this.query, _implementsDataqueryVariant: () => undefined };
  }

  /** The plain JSON, for provisioning files that are not built through the SDK (alert rules). */
  json(): ClickHouseTarget {
    return { ...this.query };
  }
}

export function clickhouse(refId = 'A'): ClickHouseQueryBuilder {
  return new ClickHouseQueryBuilder(refId);
}

/** SQL written indented in template strings, stored without the indentation. */
export function sql(text: string): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join('\n');
}
