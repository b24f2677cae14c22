import { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { ErrorRequestHandler, Request, RequestHandler, Response, Router } from 'express';
import express from 'express';
import accepts from 'accepts';
import etag from 'etag';
import fresh from 'fresh';
import { noRoute } from './errors.js';

/**
 * The read path: GET and HEAD requests for the API's read routes, answered without express.
 *
 * Express costs a read more than the rest of the server's HTTP work together: each request's
 * objects get express's prototypes, its layers are walked one by one, and its query string is
 * parsed again at every read of `req.query`. The read routes answer mostly from memory, so that
 * was most of a read's CPU. Here the same middleware and handlers run on the request and response
 * node's server made, whose classes carry the few methods of express's they call.
 *
 * Invariant: a request this path takes gets the answer express would give it, status, headers
 * and bytes alike (only `Date` differs): the same functions make it, the ETag and the conditional
 * answer come from the packages express uses (`etag`, `fresh`), and a route's answer is observed
 * under its pattern as in express. A request it does not recognise exactly goes to express,
 * untouched: another method, a path that names no read route as written (another case, a
 * trailing slash), a parameter that is not valid percent-encoding, an absolute URL, a fragment.
 * Content types are set by this path only as `application/json` or with their charset already
 * given; a handler setting another type would get express's answer here only for those.
 */

/** A request as the read path hands it to express-style handlers: the part of express's they read. */
export class ApiRequest extends IncomingMessage {
  declare originalUrl: string;
  declare path: string;
  declare query: Record<string, unknown>;
  declare params: Record<string, string>;
  declare route: { path: string } | undefined;

  accepts(types: string[]): string | false {
    return accepts(this).types(types);
  }
}

/** A response as the read path hands it to express-style handlers: the part of express's they call. */
export class ApiResponse extends ServerResponse<ApiRequest> {
  declare locals: Record<string, unknown>;

  set(field: string | Record<string, string>, value?: string): this {
    if (typeof field !== 'string') {
      for (const [name, v] of Object.entries(field)) this.set(name, v);
      return this;
    }
    this.setHeader(field, field.toLowerCase() === 'content-type' ? withCharset(String(value)) : String(value));
    return this;
  }

  type(contentType: string): this {
    return this.set('Content-Type', contentType);
  }

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  vary(field: string): this {
    const header = this.getHeader('Vary');
    const present = (Array.isArray(header) ? header.join(', ') : String(header ?? '')).split(',').map((f) => f.trim()).filter((f) => f !== '');
    if (present.includes('*')) return this;
    const adding = field.split(',').map((f) => f.trim()).filter((f) => f !== '' && !present.some((p) => p.toLowerCase() === f.toLowerCase()));
    if (adding.length > 0) this.setHeader('Vary', [...present, ...adding].join(', '));
    return this;
  }

  json(body: unknown): this {
    if (!this.hasHeader('Content-Type')) this.setHeader('Content-Type', 'application/json; charset=utf-8');
    return this.send(JSON.stringify(body));
  }

  /** As express's `send` of a string, with weak ETags: a conditional request that matches gets 304. */
  send(body: string): this {
    if (!this.hasHeader('Content-Type')) this.setHeader('Content-Type', 'text/html; charset=utf-8');
    let chunk: Buffer | undefined = Buffer.from(body, 'utf8');
    this.setHeader('Content-Length', String(chunk.length));
    if (!this.hasHeader('ETag')) this.setHeader('ETag', etag(chunk, { weak: true }));
    if (this.isFresh()) this.statusCode = 304;
    if (this.statusCode === 204 || this.statusCode === 304) {
      this.removeHeader('Content-Type');
      this.removeHeader('Content-Length');
      chunk = undefined;
    }
    if (this.req.method === 'HEAD' || chunk === undefined) this.end();
    else this.end(chunk);
    return this;
  }

  private isFresh(): boolean {
    const status = this.statusCode;
    if (!((status >= 200 && status < 300) || status === 304)) return false;
    const etagHeader = this.getHeader('ETag');
    const lastModified = this.getHeader('Last-Modified');
    return fresh(this.req.headers, {
      etag: etagHeader === undefined ? undefined : String(etagHeader),
      'last-modified': lastModified === undefined ? undefined : String(lastModified),
    });
  }
}

/** Express's `res.set('Content-Type', …)` of a JSON or text type: UTF-8 unless the type names its charset. */
function withCharset(contentType: string): string {
  return /;\s*charset=/i.test(contentType) ? contentType : `${contentType}; charset=utf-8`;
}

type Handler = RequestHandler;

interface Route {
  method: 'GET' | 'POST';
  path: string;
  handlers: Handler[];
}

/**
 * The API's routes, registered once: express serves every one of them, and the read path
 * (`readPath`) the GET ones, with the same handlers.
 */
export class Routes {
  readonly list: Route[] = [];

  get(path: string, ...handlers: Handler[]): this {
    this.list.push({ method: 'GET', path, handlers });
    return this;
  }

  post(path: string, ...handlers: Handler[]): this {
    this.list.push({ method: 'POST', path, handlers });
    return this;
  }

  /** The routes as an express router. */
  express(): Router {
    const router = express.Router();
    for (const route of this.list) {
      if (route.method === 'GET') router.get(route.path, ...route.handlers);
      else router.post(route.path, ...route.handlers);
    }
    return router;
  }
}

/** A read route's path, split: a literal segment, or a parameter's name. */
type Segment = { literal: string } | { param: string };

interface ReadRoute {
  segments: Segment[];
  /** Everything express runs for the route, in its order: `before`, `api`, then the route's own. */
  chain: Handler[];
}

export interface ReadPathOptions {
  /** What express runs before the routes for every request: headers, metrics, CORS. */
  before: Handler[];
  /** What express runs before the routes under `/v1`: authentication, rate limit, the read gate. */
  api: Handler[];
  routes: Routes[];
  onError: ErrorRequestHandler;
}

/**
 * The read path's dispatch: answers the request and returns true when it is a GET or HEAD of a
 * read route; returns false, having touched nothing, for express to answer.
 */
export function readPath(options: ReadPathOptions): (req: ApiRequest, res: ApiResponse) => boolean {
  const { before, api, onError } = options;
  const routes: ReadRoute[] = options.routes
    .flatMap((r) => r.list)
    .filter((r) => r.method === 'GET')
    .map((r) => {
      // As express sets `req.route` when it enters a route: answers from here on are the route's.
      const enterRoute: Handler = (request, _res, next) => {
        (request as unknown as ApiRequest).route = { path: r.path };
        next();
      };
      return {
        segments: r.path
          .split('/')
          .slice(1)
          .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : { literal: s })),
        chain: [...before, ...api, enterRoute, ...r.handlers],
      };
    });

  function match(path: string): { route: ReadRoute; params: Record<string, string> } | undefined {
    const parts = path.split('/');
    parts.shift();
    for (const route of routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const segment = route.segments[i] as Segment;
        const part = parts[i] as string;
        if ('literal' in segment) ok = segment.literal === part;
        else if (part === '') ok = false;
        else {
          try {
            params[segment.param] = decodeURIComponent(part);
          } catch {
            // Not valid percent-encoding: express answers that.
            return undefined;
          }
        }
      }
      if (ok) return { route, params };
    }
    return undefined;
  }

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '';
    if (!url.startsWith('/v1/') || url.includes('#')) return false;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const found = match(path);
    if (!found) return false;

    req.originalUrl = url;
    req.path = path;
    req.query = parseQuery(q < 0 ? '' : url.slice(q + 1)) as Record<string, unknown>;
    req.params = found.params;
    res.locals = {};
    run(found.route.chain, req, res, onError);
    return true;
  };
}

/** Runs express-style handlers in turn, as express does: `next(err)`, a throw or a rejection goes to `onError`. */
function run(handlers: Handler[], req: ApiRequest, res: ApiResponse, onError: ErrorRequestHandler): void {
  const request = req as unknown as Request;
  const response = res as unknown as Response;
  let i = 0;
  const fail = (err: unknown): void => {
    try {
      void onError(err, request, response, () => undefined);
    } catch {
      // The error handler failed too: as express's final handler, a bare 500, or the connection ends.
      if (res.headersSent) res.destroy();
      else res.status(500).end();
    }
  };
  const next = (err?: unknown): void => {
    // As express: 'route' and 'router' skip the rest of the route, and no other route answers.
    const skip = err === 'route' || err === 'router';
    if (err !== undefined && err !== null && !skip) return fail(err);
    const handler = skip ? undefined : handlers[i++];
    // Every route answers; a chain that ends without one is the catch-all's 404, as in express.
    if (!handler) {
      res.locals.unmatched = true;
      return fail(noRoute(req.method ?? '', req.path));
    }
    try {
      const result: unknown = handler(request, response, next);
      if (result instanceof Promise) result.then(undefined, (error: unknown) => fail(error ?? new Error('Rejected promise')));
    } catch (error) {
      fail(error);
    }
  };
  next();
}
