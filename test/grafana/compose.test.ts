import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig, serverConfigSchema, storageConfigSchema } from '../../core/config.js';
import { environmentVariablesOf, ROOT } from './support/provisioning.js';

/**
 * `docker-compose.yml` checked without a Docker engine: what `docker compose config` would
 * resolve, whether every image is pinned and every service health-checked, whether every mounted
 * file exists, and whether each process's environment satisfies what it and the provisioning read.
 */
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

/** Compose's `${VAR:-default}` with nothing set in the shell, as a user would start it. */
function resolved(value: string | number): string {
  return String(value).replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name, fallback: string | undefined) => fallback ?? '');
}
const envOf = (name: string) => Object.fromEntries(Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, resolved(v)]));

describe('docker-compose.yml, verified without Docker', () => {
  it('runs Kafka in KRaft mode, ClickHouse, Grafana, and the ingest, aggregator and api processes', () => {
    expect(Object.keys(services).sort()).toEqual(['aggregator', 'api', 'clickhouse', 'grafana', 'ingest', 'kafka']);
    expect(envOf('kafka')).toMatchObject({ KAFKA_PROCESS_ROLES: 'broker,controller', KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER' });
    expect(text).not.toMatch(/zookeeper/i);
    expect(services.aggregator?.command).toEqual(['node', '--import', 'tsx', 'aggregator/run.ts']);
  });

  it('pins every image to a version and health-checks every service; dependencies wait for health', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.image) expect(service.image, name).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(\.\d+)?$/);
      else expect(service.build, `${name} has neither image nor build`).toBeDefined();
      expect(service.healthcheck?.test.length, `${name} has no health check`).toBeGreaterThan(0);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} depends on a missing ${dependency}`).toBeDefined();
        expect(condition).toBe('service_healthy');
      }
    }
  });

  it('mounts only files that exist, and runs only scripts that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('.')) expect(existsSync(join(ROOT, source)), `${name} mounts missing ${source}`).toBe(true);
      }
      for (const part of [...(service.command ?? []), ...(service.healthcheck?.test ?? [])]) {
        if (/\.(ts|mjs)$/.test(part)) expect(existsSync(join(ROOT, part)), `${name} runs missing ${part}`).toBe(true);
      }
    }
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^COPY \. \.$/m);
    // The image's own `npm ci` must not be overwritten by the host's node_modules.
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['node_modules', 'data']));
    for (const needed of ['deploy', 'provisioning', 'aggregator']) expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8')).not.toMatch(new RegExp(`^${needed}$`, 'm'));
  });

  it('Grafana gets the plugin, the provisioning folder, and every variable the provisioning files read', () => {
    const grafana = services.grafana as Service;
    expect(envOf('grafana').GF_PLUGINS_PREINSTALL_SYNC).toContain('grafana-clickhouse-datasource');
    expect(grafana.volumes).toContain('./provisioning:/etc/grafana/provisioning:ro');
    const needed = [...environmentVariablesOf('datasources/clickhouse.yaml'), ...environmentVariablesOf('alerting/contact-points.yaml')];
    expect(needed).toEqual(expect.arrayContaining(['CLICKHOUSE_HOST', 'CLICKHOUSE_PORT', 'CLICKHOUSE_PROTOCOL', 'CLICKHOUSE_GRAFANA_USER', 'CLICKHOUSE_DATABASE', 'GRAFANA_ALERT_WEBHOOK_URL']));
    const env = envOf('grafana');
    for (const variable of needed) expect(env[variable], `Grafana's ${variable} is unset`).toBeTruthy();
    expect(env.CLICKHOUSE_HOST).toBe('clickhouse');
    expect(env.CLICKHOUSE_PORT).toMatch(/^\d+$/);
    expect(['http', 'native']).toContain(env.CLICKHOUSE_PROTOCOL);
    expect(env.GRAFANA_ALERT_WEBHOOK_URL).toMatch(/^https?:\/\//);
  });

  it("Grafana connects as the read-only user ClickHouse defines, with the password ClickHouse reads, to the app's database", () => {
    const xml = readFileSync(join(ROOT, 'deploy/clickhouse/users.d/grafana.xml'), 'utf8');
    expect(wellFormed(xml)).toBe(true);
    const grafana = services.grafana?.environment ?? {};
    const clickhouse = services.clickhouse?.environment ?? {};
    expect(xml).toContain(`<${grafana.CLICKHOUSE_GRAFANA_USER}>`);
    expect(xml).toMatch(/<readonly>[12]<\/readonly>/);
    expect(xml).toContain(`GRANT SELECT ON ${grafana.CLICKHOUSE_DATABASE}.*`);
    expect(xml).not.toMatch(/GRANT (ALL|INSERT|ALTER|CREATE|DROP)/i);
    const passwordVariable = /from_env="(\w+)"/.exec(xml)?.[1] as string;
    expect(clickhouse[passwordVariable]).toBe(grafana.CLICKHOUSE_GRAFANA_PASSWORD);
    expect(services.clickhouse?.volumes).toContain('./deploy/clickhouse/users.d/grafana.xml:/etc/clickhouse-server/users.d/grafana.xml:ro');
    for (const app of ['ingest', 'aggregator', 'api']) expect(envOf(app).CLICKHOUSE_DATABASE).toBe(grafana.CLICKHOUSE_DATABASE);
  });

  it("each process's environment passes its own configuration schema, and the api has no default API key", () => {
    for (const app of ['ingest', 'aggregator']) expect(() => parseConfig(storageConfigSchema, envOf(app))).not.toThrow();
    const api = envOf('api');
    expect(() => parseConfig(serverConfigSchema, api)).not.toThrow();
    expect(services.api?.environment?.BALANCES_API_KEYS).toMatch(/^\$\{BALANCES_API_KEYS(:-|:\?[^}]*)?\}$/);
    expect(api.BALANCES_API_KEYS).toBe('');
    // With no key given, --demo makes the api generate an admin key and print it.
    expect(services.api?.command).toContain('--demo');
    expect(envOf('ingest').KAFKA_BROKERS).toBe('kafka:9092');
    expect(parseConfig(serverConfigSchema, api).KAFKA_BROKERS, 'only the ingest service consumes Kafka').toBeUndefined();
    for (const app of ['ingest', 'aggregator', 'api']) expect(envOf(app).CLICKHOUSE_URL).toBe('http://clickhouse:8123');
  });
});

/** Tags open and close in order: enough to catch a broken hand-edited users.d file. */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  const body = xml.replace(/<!--[\s\S]*?-->/g, '').replace(/<\?[\s\S]*?\?>/g, '');
  for (const [, closing, name, , selfClosing] of body.matchAll(/<(\/?)([A-Za-z_][\w.-]*)([^>]*?)(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  return stack.length === 0;
}
