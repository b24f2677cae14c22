import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { staticPage } from '../../api/static.js';

const scratch = mkdtempSync(join(tmpdir(), 'balances-static-'));
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(scratch, { recursive: true, force: true });
});

/** The page's router over `dist`, in front of a stand-in for the API. */
async function serve(dist: string): Promise<string> {
  const app = express();
  app.use(staticPage(dist));
  app.get('/v1/wallets', (_req, res) => void res.json({ wallets: [] }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the Balances page at /', () => {
  it('without a build, the API still answers and / says how to build the page', async () => {
    const url = await serve(join(scratch, 'never-built'));
    const page = await fetch(`${url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('npm run build:web');
    const wallets = await fetch(`${url}/v1/wallets`);
    expect(wallets.status).toBe(200);
    expect(await wallets.json()).toEqual({ wallets: [] });
  });

  it('once built, / and any deeper link answer the page, revalidated on every load', async () => {
    const dist = join(scratch, 'built');
    mkdirSync(dist, { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Balances</title>');
    const url = await serve(dist);
    for (const path of ['/', '/wallets/team/search']) {
      const page = await fetch(`${url}${path}`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(await page.text()).toContain('<title>Balances</title>');
    }
  });
});
