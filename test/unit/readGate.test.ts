import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readGate } from '../../api/readGate.js';

/** Reads start a few per turn of the event loop; a slow read holds nothing back; writes pass. */
const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('readGate', () => {
  it('starts reads at once while ingest keeps up', async () => {
    const app = express();
    app.use(readGate(() => false));
    let inHandler = 0;
    let most = 0;
    app.get('/r', async (_req, res) => {
      most = Math.max(most, ++inHandler);
      await new Promise((r) => setTimeout(r, 20));
      inHandler--;
      res.send('ok');
    });
    const base = await serve(app);
    const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${base}/r`).then((r) => r.text())));
    expect(answers).toEqual(Array(8).fill('ok'));
    // Nothing held them: all eight were in their handlers at once.
    expect(most).toBe(8);
  });

  it('starts one read per turn of the timers while ingest is behind, all of them once it caught up', async () => {
    const starts: number[] = [];
    let turn = 0;
    let behind = true;
    const ticking = setInterval(() => turn++, 0);
    const app = express();
    app.use(readGate(() => behind));
    app.get('/r', (_req, res) => {
      starts.push(turn);
      // Each read keeps the loop busy a little, as a real handler does.
      const until = performance.now() + 2;
      while (performance.now() < until);
      res.send('ok');
    });
    const base = await serve(app);
    const paced = await Promise.all(Array.from({ length: 12 }, () => fetch(`${base}/r`).then((r) => r.text())));
    expect(paced).toEqual(Array(12).fill('ok'));
    // No two reads started in one turn of the timers.
    expect(new Set(starts).size).toBe(starts.length);
    behind = false;
    starts.length = 0;
    await Promise.all(Array.from({ length: 12 }, () => fetch(`${base}/r`).then((r) => r.text())));
    clearInterval(ticking);
    expect(new Set(starts).size).toBeLessThan(starts.length);
  });

  it('lets other reads start while one waits on storage', async () => {
    let releaseSlow: () => void = () => undefined;
    const app = express();
    app.use(readGate(() => true));
    app.get('/slow', async (_req, res) => {
      await new Promise<void>((r) => (releaseSlow = r));
      res.send('slow');
    });
    app.get('/fast', (_req, res) => res.send('fast'));
    const base = await serve(app);
    const slow = fetch(`${base}/slow`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 20));
    expect(await fetch(`${base}/fast`).then((r) => r.text())).toBe('fast');
    releaseSlow();
    expect(await slow).toBe('slow');
  });

  it('does not pace writes', async () => {
    const app = express();
    let started = 0;
    app.use(readGate(() => true));
    app.post('/w', (_req, res) => {
      started++;
      res.send('w');
    });
    const base = await serve(app);
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${base}/w`, { method: 'POST' })));
    expect(started).toBe(5);
  });
});
