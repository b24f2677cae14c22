import { parseRfc3339 } from '../core/time.js';
import { ApiError } from './errors.js';

const DAY = 86_400_000;
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: DAY, w: 7 * DAY };
export const MAX_RANGE_MS = 5 * 366 * DAY;
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);

/** An instant: RFC 3339, or relative to now (`now`, `now-90d`, `now+1h`). */
export function parseInstant(name: string, value: unknown, now: number): number {
  if (typeof value !== 'string' || value === '') throw new ApiError(400, 'invalid_parameter', `${name} must be an RFC 3339 time or now-<n><s|m|h|d|w>`, { parameter: name });
  const relative = /^now(?:([+-])(\d{1,6})([smhdw]))?$/.exec(value);
  if (relative) {
    if (!relative[1]) return now;
    const delta = Number(relative[2]) * (UNITS[relative[3] as string] as number);
    const ms = relative[1] === '-' ? now - delta : now + delta;
    // The same span an RFC 3339 time may name: anything else is not a date storage can hold.
    if (ms < EARLIEST || ms >= LATEST) {
      throw new ApiError(400, 'invalid_parameter', `${name} "${value}" is before 1970 or after 2199`, { parameter: name });
    }
    return ms;
  }
  const ms = parseRfc3339(value);
  if (ms === null) throw new ApiError(400, 'invalid_parameter', `${name} "${value}" is not an RFC 3339 time or now-<n><s|m|h|d|w>`, { parameter: name });
  return ms;
}

export interface Range {
  from: number;
  to: number;
}

/** A half-open range `[from, to)`, by default the last 90 days, at most 5 years long. */
export function parseRange(query: Record<string, unknown>, now: number, defaultDays = 90): Range {
  const to = query.to === undefined ? now : parseInstant('to', query.to, now);
  const from = query.from === undefined ? to - defaultDays * DAY : parseInstant('from', query.from, now);
  if (to < from) throw new ApiError(400, 'invalid_range', 'to is before from', { parameter: 'to' });
  if (to - from > MAX_RANGE_MS) throw new ApiError(400, 'invalid_range', 'the range is longer than 5 years', { parameter: 'from' });
  return { from, to };
}

export function parseInteger(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be an integer from ${min} to ${max}`, { parameter: name });
  }
  return n;
}

export function parseWalletType(name: string, value: unknown, required: boolean): 'team' | 'contract' | undefined {
  if (value === undefined && !required) return undefined;
  if (value !== 'team' && value !== 'contract') throw new ApiError(400, 'invalid_parameter', `${name} must be team or contract`, { parameter: name });
  return value;
}
