import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/** web/dist beside the sources; a compiled server (`npm run build`) carries its copy in dist/web/dist. */
export const WEB_DIST = fileURLToPath(new URL('../web/dist', import.meta.url));

/**
 * The Balances page at `/`. Built assets carry a content hash in their names, so they are cached
 * for a year; the page itself is revalidated on every load. Any other GET outside /v1 answers the
 * page too, so a shared link to a deeper path still opens it. Without a build the API still
 * serves, and the page answers 503 with how to make one.
 */
export function staticPage(dist = WEB_DIST): Router {
  const router = Router();
  const index = join(dist, 'index.html');
  router.use(
    '/assets',
    express.static(join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: true }),
  );
  router.get('/{*path}', (req, res, next) => {
    if (/^\/(v1|assets)(\/|$)/.test(req.path) || !req.accepts('html')) return next();
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The Balances page is not built: run `npm run build:web`, or `npm run build` for the compiled server in dist/.\n');
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return router;
}
