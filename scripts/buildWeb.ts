/**
 * Builds the Balances page into web/dist, which the API serves at `/`.
 *   npm run build:web                      API types from the OpenAPI document, the page's type-check, then Vite
 *   tsx scripts/buildWeb.ts --if-stale     Vite only, and only when web/dist is missing or older than
 *                                          the page's sources: what `npm start` and `npm run serve` run first
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_ROOT = fileURLToPath(new URL('../web', import.meta.url));
export const WEB_DIST = join(WEB_ROOT, 'dist');
const BUILT_MARKER = join(WEB_DIST, 'index.html');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (['dist', 'generated', 'node_modules', '.build-lock'].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function webBuildIsStale(): boolean {
  if (!existsSync(BUILT_MARKER)) return true;
  return statSync(BUILT_MARKER).mtimeMs < newestSourceMtime(WEB_ROOT);
}

/** Bundles the page with Vite; types are not checked here (see `typeCheckWeb`). */
export async function bundleWeb(options: { quiet?: boolean } = {}): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: join(WEB_ROOT, 'vite.config.ts'), root: WEB_ROOT, logLevel: options.quiet ? 'warn' : 'info' });
}

const LOCK = join(WEB_ROOT, '.build-lock');
const STALE_LOCK_MS = 120_000;

/** One build at a time across processes (test files, a second `npm start`): mkdir is atomic. */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds when web/dist is missing or older than the sources; true when it built. */
export async function ensureWebBuild(options: { quiet?: boolean } = {}): Promise<boolean> {
  if (!webBuildIsStale()) return false;
  return withBuildLock(async () => {
    if (!webBuildIsStale()) return false;
    await bundleWeb(options);
    return true;
  });
}

export async function typeCheckWeb(): Promise<void> {
  const { writeWebApiTypes } = await import('./webApiTypes.js');
  await writeWebApiTypes();
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', join(WEB_ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('the Balances page does not type-check against the API contract');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) {
    try {
      if (await ensureWebBuild({ quiet: true })) console.log(`Balances page built into ${WEB_DIST}`);
    } catch (err) {
      // Without the build tools (a production install) the API still starts, and `/` says how to build.
      console.error(`The Balances page could not be built, so the API serves without it: ${(err as Error).message}`);
    }
  } else {
    const checkOnly = process.argv.includes('--check');
    try {
      await typeCheckWeb();
      if (!checkOnly) await bundleWeb();
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
  }
}
