import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { ApiError } from './errors.js';

/** Validates the query string against the route's schema: unknown or malformed parameters are a 400 naming them. */
export function validateQuery(schema: z.ZodObject) {
  return function validateQueryParameters(req: Request, _res: Response, next: NextFunction) {
    const query = req.query as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (typeof value !== 'string') {
        return next(new ApiError(400, 'invalid_parameter', `${name} must be given once, as a plain value`, { parameter: name }));
      }
    }
    const result = schema.safeParse(query);
    if (result.success) return next();
    const issue = result.error.issues[0];
    const unknownKey = issue?.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : undefined;
    const parameter = unknownKey ?? String(issue?.path[0] ?? '');
    const message = unknownKey ? `unknown parameter ${unknownKey}` : `${parameter}: ${issue?.message ?? 'invalid'}`;
    next(new ApiError(400, 'invalid_parameter', message, { parameter }));
  };
}
