import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, serverConfigSchema } from '../../core/config.js';

describe('configuration', () => {
  it('has working defaults for the embedded mode', () => {
    const config = parseConfig(serverConfigSchema, {});
    expect(config).toMatchObject({ PORT: 3000, BALANCES_DATA_DIR: './data', KAFKA_TOPIC: 'balances.events', BALANCES_API_KEYS: [] });
    expect(config.KAFKA_BROKERS).toBeUndefined();
    expect(config.CLICKHOUSE_URL).toBeUndefined();
  });

  it('parses API keys with their account and role', () => {
    const config = parseConfig(serverConfigSchema, { BALANCES_API_KEYS: 'k1=acme:admin, k2=acme:analyst,k3=globex:ingest' });
    expect(config.BALANCES_API_KEYS).toEqual([
      { key: 'k1', accountId: 'acme', role: 'admin' },
      { key: 'k2', accountId: 'acme', role: 'analyst' },
      { key: 'k3', accountId: 'globex', role: 'ingest' },
    ]);
  });

  it('reports every problem at once, each with its variable', () => {
    try {
      parseConfig(serverConfigSchema, {
        PORT: 'eighty',
        BALANCES_API_KEYS: 'secretkey=acme:superuser',
        KAFKA_BROKERS: 'localhost',
        CLICKHOUSE_URL: 'ftp://x',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const variables = (err as ConfigError).problems.map((p) => p.variable).sort();
      expect(variables).toEqual(['BALANCES_API_KEYS', 'CLICKHOUSE_URL', 'KAFKA_BROKERS', 'PORT']);
      expect((err as ConfigError).message).not.toContain('secretkey');
    }
  });

  it('alerts runs_out within 30 days by default, and refuses a horizon that is not 1 to 730 days, naming ALERT_RUNS_OUT_DAYS', () => {
    expect(parseConfig(serverConfigSchema, {}).ALERT_RUNS_OUT_DAYS).toBe(30);
    expect(parseConfig(serverConfigSchema, { ALERT_RUNS_OUT_DAYS: '14' }).ALERT_RUNS_OUT_DAYS).toBe(14);
    for (const value of ['0', '731', 'soon', '2.5']) {
      expect(() => parseConfig(serverConfigSchema, { ALERT_RUNS_OUT_DAYS: value }), value).toThrow(ConfigError);
      try {
        parseConfig(serverConfigSchema, { ALERT_RUNS_OUT_DAYS: value });
      } catch (err) {
        expect((err as ConfigError).problems.map((p) => p.variable)).toEqual(['ALERT_RUNS_OUT_DAYS']);
      }
    }
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfig(serverConfigSchema, { PORT: '' }).PORT).toBe(3000);
  });
});
