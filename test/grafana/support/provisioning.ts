import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { AlertRulesFile } from '../../../dashboards/alerts.js';
import type { ClickHouseTarget } from '../../../dashboards/clickhouse.js';

/** The committed provisioning files, as Grafana would read them. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROVISIONING = join(ROOT, 'provisioning');

export interface PanelJson {
  type: string;
  title?: string;
  repeat?: string;
  targets?: ClickHouseTarget[];
  options?: Record<string, unknown>;
  fieldConfig?: { defaults?: Record<string, unknown> & { custom?: Record<string, unknown> }; overrides?: unknown[] };
  transformations?: Array<{ id: string; options: Record<string, unknown> }>;
  datasource?: { type?: string; uid?: string };
  panels?: PanelJson[];
}

export interface VariableJson {
  type: string;
  name: string;
  query?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type?: string; uid?: string };
}

export interface DashboardJson {
  uid: string;
  title: string;
  time: { from: string; to: string };
  panels: PanelJson[];
  templating: { list: VariableJson[] };
}

export function dashboardFiles(): Array<{ file: string; dashboard: DashboardJson }> {
  const dir = join(PROVISIONING, 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), 'utf8')) as DashboardJson }));
}

/** Every panel, rows' panels included. */
export function allPanels(dashboard: DashboardJson): PanelJson[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function yamlFile<T>(path: string): T {
  return parse(readFileSync(join(PROVISIONING, path), 'utf8')) as T;
}

export const alertRulesFile = () => yamlFile<AlertRulesFile>('alerting/alert-rules.yaml');

export interface DatasourcesFile {
  apiVersion: number;
  datasources: Array<{ name: string; uid: string; type: string; jsonData: Record<string, unknown>; secureJsonData?: Record<string, string> }>;
}
export const datasourcesFile = () => yamlFile<DatasourcesFile>('datasources/clickhouse.yaml');

/** Names of the `${VAR}` / `$VAR` environment variables a provisioning file reads. */
export function environmentVariablesOf(path: string): string[] {
  const text = readFileSync(join(PROVISIONING, path), 'utf8');
  return [...new Set([...text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)\}?/g)].map((m) => m[1] as string))].sort();
}
