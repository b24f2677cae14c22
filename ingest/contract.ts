import { parseAmount } from '../core/decimal.js';
import { topLevelNumberText } from '../core/jsonText.js';
import { parseRfc3339, toClickHouseTime, utcMillisText } from '../core/time.js';

/**
 * The event contract (SPEC section 2): what an accepted event is, and the stable codes with
 * which anything else is refused. Validation never throws for bad input.
 */

export type EventType = 'purchase' | 'usage' | 'move' | 'void';
export type WalletType = 'team' | 'contract';
export const EVENT_TYPES: readonly EventType[] = ['purchase', 'usage', 'move', 'void'];

export type RejectionCode =
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_field'
  | 'invalid_field'
  | 'unknown_type'
  | 'invalid_event_id'
  | 'invalid_timestamp'
  | 'invalid_amount'
  | 'too_many_decimals'
  | 'amount_not_positive'
  | 'amount_too_large'
  | 'invalid_expiry'
  | 'invalid_wallet'
  | 'account_mismatch'
  | 'cross_account_move'
  | 'wallet_type_mismatch'
  | 'same_wallet_move';

/**
 * One row of `events_v1`, exactly as it is inserted. Times are ClickHouse `DateTime64(3)` text.
 * Columns a type does not use are left out and take their defaults, which keeps rows short.
 */
export interface EventRow {
  account_id: string;
  event_id: string;
  type: EventType;
  occurred_at: string;
  source: string;
  wallet_type?: WalletType;
  wallet_id?: string;
  amount?: string;
  effective_at?: string;
  expires_at?: string;
  lot_id?: string;
  sku?: string;
  order_id?: string;
  user_id?: string;
  product?: string;
  service?: string;
  to_wallet_type?: WalletType;
  to_wallet_id?: string;
  voids_event_id?: string;
  wallet_name?: string;
}

export interface Rejection {
  code: RejectionCode;
  message: string;
  /** Whatever identity could be read from the payload, for the rejected-events table. */
  account_id?: string;
  event_id?: string;
}

export type ValidationResult = { ok: true; row: EventRow } | ({ ok: false } & Rejection);

export interface ValidationContext {
  source: string;
  /** When set (an API key's account), an event for any other account is refused. */
  accountScope?: string;
}

const MAX_EVENT_ID = 128;
const MAX_TEXT = 256;
const MAX_WALLET_NAME = 200;

class Refusal {
  constructor(
    readonly code: RejectionCode,
    readonly message: string,
  ) {}
}

function refuse(code: RejectionCode, message: string): never {
  throw new Refusal(code, message);
}

function requiredText(obj: Record<string, unknown>, field: string, label = field): string {
  const value = obj[field];
  if (value === undefined || value === null) refuse('missing_field', `${label} is required`);
  if (typeof value !== 'string' || value.length === 0) refuse('invalid_field', `${label} must be a non-empty string`);
  if (value.length > MAX_TEXT) refuse('invalid_field', `${label} is longer than ${MAX_TEXT} characters`);
  return value;
}

function optionalText(obj: Record<string, unknown>, field: string): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) refuse('invalid_field', `${field} must be a non-empty string`);
  if (value.length > MAX_TEXT) refuse('invalid_field', `${field} is longer than ${MAX_TEXT} characters`);
  return value;
}

interface Instant {
  ms: number;
  /** The same instant as ClickHouse `DateTime64(3, 'UTC')` text. */
  text: string;
}

function timestamp(obj: Record<string, unknown>, field: string, required: true): Instant;
function timestamp(obj: Record<string, unknown>, field: string, required: false): Instant | undefined;
function timestamp(obj: Record<string, unknown>, field: string, required: boolean): Instant | undefined {
  const value = obj[field];
  if (value === undefined || value === null) {
    if (required) refuse('missing_field', `${field} is required`);
    return undefined;
  }
  const ms = typeof value === 'string' ? parseRfc3339(value) : null;
  if (ms === null) refuse('invalid_timestamp', `${field} must be an RFC 3339 timestamp between 1970 and 2200`);
  return { ms, text: utcMillisText(value as string) ?? toClickHouseTime(ms) };
}

function amount(obj: Record<string, unknown>, required: true): string;
function amount(obj: Record<string, unknown>, required: false): string | undefined;
function amount(obj: Record<string, unknown>, required: boolean): string | undefined {
  const value = obj.amount;
  if (value === undefined || value === null) {
    if (required) refuse('missing_field', 'amount is required');
    return undefined;
  }
  const parsed = parseAmount(value);
  if (!parsed.ok) refuse(parsed.code, parsed.message);
  return parsed.value;
}

/** Control characters have no place in an identifier, and ingest uses two of them as separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

interface Wallet {
  type: WalletType;
  id: string;
  account_id?: string;
}

function wallet(obj: Record<string, unknown>, field: string): Wallet {
  const value = obj[field];
  if (value === undefined || value === null) refuse('missing_field', `${field} is required`);
  if (typeof value !== 'object' || Array.isArray(value)) refuse('invalid_wallet', `${field} must be an object { type, id }`);
  const w = value as Record<string, unknown>;
  if (w.type === undefined) refuse('missing_field', `${field}.type is required`);
  if (w.type !== 'team' && w.type !== 'contract') refuse('invalid_wallet', `${field}.type must be "team" or "contract"`);
  const id = requiredText(w, 'id', `${field}.id`);
  const accountId = w.account_id === undefined ? undefined : requiredText(w, 'account_id', `${field}.account_id`);
  return { type: w.type, id, account_id: accountId };
}


/** A wallet's display name, 1 to 200 characters of printable text. */
function walletName(obj: Record<string, unknown>): string | undefined {
  const value = obj.wallet_name;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim().length === 0) refuse('invalid_field', 'wallet_name must be a non-empty string');
  if ([...value].length > MAX_WALLET_NAME) refuse('invalid_field', `wallet_name is longer than ${MAX_WALLET_NAME} characters`);
  if (CONTROL_CHARACTER.test(value)) refuse('invalid_field', 'wallet_name must not contain control characters');
  return value;
}

function walletAccount(w: Wallet, accountId: string, field: string): void {
  if (w.account_id !== undefined && w.account_id !== accountId) {
    refuse('cross_account_move', `${field} belongs to account "${w.account_id}", not "${accountId}"`);
  }
}

function buildRow(event: Record<string, unknown>, ctx: ValidationContext): EventRow {
  const eventId = event.event_id;
  if (eventId === undefined || eventId === null) refuse('missing_field', 'event_id is required');
  if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > MAX_EVENT_ID || CONTROL_CHARACTER.test(eventId)) {
    refuse('invalid_event_id', `event_id must be a string of 1 to ${MAX_EVENT_ID} characters without control characters`);
  }
  const type = event.type;
  if (type === undefined || type === null) refuse('missing_field', 'type is required');
  if (typeof type !== 'string' || !EVENT_TYPES.includes(type as EventType)) {
    refuse('unknown_type', `type ${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(', ')}`);
  }
  const accountId = requiredText(event, 'account_id');
  if (CONTROL_CHARACTER.test(accountId)) refuse('invalid_field', 'account_id must not contain control characters');
  if (ctx.accountScope !== undefined && accountId !== ctx.accountScope) {
    refuse('account_mismatch', `account_id "${accountId}" is not the account of this API key`);
  }
  const occurredAt = timestamp(event, 'occurred_at', true);
  const row: EventRow = { account_id: accountId, event_id: eventId, type: type as EventType, occurred_at: occurredAt.text, source: ctx.source };

  switch (type as EventType) {
    case 'purchase': {
      const w = wallet(event, 'wallet');
      walletAccount(w, accountId, 'wallet');
      row.wallet_type = w.type;
      row.wallet_id = w.id;
      row.amount = amount(event, true);
      const effectiveAt = timestamp(event, 'effective_at', false) ?? occurredAt;
      const expiresAt = timestamp(event, 'expires_at', true);
      if (expiresAt.ms <= effectiveAt.ms) refuse('invalid_expiry', 'expires_at must be after effective_at');
      row.effective_at = effectiveAt.text;
      row.expires_at = expiresAt.text;
      row.lot_id = optionalText(event, 'lot_id') ?? eventId;
      const sku = optionalText(event, 'sku');
      if (sku !== undefined) row.sku = sku;
      const orderId = optionalText(event, 'order_id');
      if (orderId !== undefined) row.order_id = orderId;
      const name = walletName(event);
      if (name !== undefined) row.wallet_name = name;
      return row;
    }
    case 'usage': {
      const w = wallet(event, 'wallet');
      walletAccount(w, accountId, 'wallet');
      row.wallet_type = w.type;
      row.wallet_id = w.id;
      row.amount = amount(event, true);
      row.user_id = requiredText(event, 'user_id');
      row.product = requiredText(event, 'product');
      row.service = optionalText(event, 'service') ?? row.product;
      const name = walletName(event);
      if (name !== undefined) row.wallet_name = name;
      return row;
    }
    case 'move': {
      const from = wallet(event, 'from');
      const to = wallet(event, 'to');
      walletAccount(from, accountId, 'from');
      walletAccount(to, accountId, 'to');
      if (from.type !== to.type) refuse('wallet_type_mismatch', `a move cannot go from a ${from.type} to a ${to.type}`);
      if (from.id === to.id) refuse('same_wallet_move', 'from and to are the same wallet');
      row.wallet_type = from.type;
      row.wallet_id = from.id;
      row.to_wallet_type = to.type;
      row.to_wallet_id = to.id;
      const requested = amount(event, false);
      if (requested !== undefined) row.amount = requested;
      const lotId = optionalText(event, 'lot_id');
      if (lotId !== undefined) row.lot_id = lotId;
      return row;
    }
    case 'void': {
      const target = requiredText(event, 'voids_event_id');
      if (target.length > MAX_EVENT_ID) refuse('invalid_field', `voids_event_id is longer than ${MAX_EVENT_ID} characters`);
      if (target === eventId) refuse('invalid_field', 'an event cannot void itself');
      row.voids_event_id = target;
      return row;
    }
  }
}

/** Validates one decoded event. Never throws for bad input. */
export function validateEvent(event: unknown, ctx: ValidationContext): ValidationResult {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, code: 'not_an_object', message: 'an event must be a JSON object' };
  }
  try {
    return { ok: true, row: buildRow(event as Record<string, unknown>, ctx) };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const e = event as Record<string, unknown>;
    return {
      ok: false,
      code: err.code,
      message: err.message,
      account_id: typeof e.account_id === 'string' ? e.account_id.slice(0, MAX_TEXT) : undefined,
      event_id: typeof e.event_id === 'string' ? e.event_id.slice(0, MAX_EVENT_ID) : undefined,
    };
  }
}

/** Decodes and validates one raw message (a Kafka value, an NDJSON line, an array element's text). */
export function decodeEvent(text: string, ctx: ValidationContext): ValidationResult {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'the message is not valid JSON' };
  }
  // An amount sent as a JSON number is read from its digits as written: the double JSON.parse
  // made of it may have lost the last one, or hide an exponent.
  if (typeof event === 'object' && event !== null && typeof (event as { amount?: unknown }).amount === 'number') {
    (event as { amount: unknown }).amount = topLevelNumberText(text, 'amount') ?? (event as { amount: unknown }).amount;
  }
  return validateEvent(event, ctx);
}
