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
  | 'same_wallet_move'
  | 'conflicting_duplicate';

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

/**
 * What makes two copies of an event the same event: every field but where it came from. Two
 * copies under one event_id that differ here conflict; the first stored copy stands.
 */
export const CONTENT_FIELDS = [
  'type', 'occurred_at', 'wallet_type', 'wallet_id', 'amount', 'effective_at', 'expires_at', 'lot_id', 'sku', 'order_id',
  'user_id', 'product', 'service', 'to_wallet_type', 'to_wallet_id', 'voids_event_id', 'wallet_name',
] as const;

/** The content of an event row, in `CONTENT_FIELDS` order, absent fields empty. */
export function contentOf(row: EventRow): string {
  return JSON.stringify(CONTENT_FIELDS.map((field) => row[field] ?? ''));
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

/** A field's value, or why the event is refused: every reader returns one, none throws. */
type Checked<T> = { ok: true; value: T } | { ok: false; code: RejectionCode; message: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const refuse = (code: RejectionCode, message: string): { ok: false; code: RejectionCode; message: string } => ({ ok: false, code, message });

function requiredText(obj: Record<string, unknown>, field: string, label = field): Checked<string> {
  const value = obj[field];
  if (value === undefined || value === null) return refuse('missing_field', `${label} is required`);
  if (typeof value !== 'string' || value.length === 0) return refuse('invalid_field', `${label} must be a non-empty string`);
  if (value.length > MAX_TEXT) return refuse('invalid_field', `${label} is longer than ${MAX_TEXT} characters`);
  return ok(value);
}

function optionalText(obj: Record<string, unknown>, field: string): Checked<string | undefined> {
  if (obj[field] === undefined || obj[field] === null) return ok(undefined);
  return requiredText(obj, field);
}

interface Instant {
  ms: number;
  /** The same instant as ClickHouse `DateTime64(3, 'UTC')` text. */
  text: string;
}

function timestamp(obj: Record<string, unknown>, field: string): Checked<Instant | undefined> {
  const value = obj[field];
  if (value === undefined || value === null) return ok(undefined);
  const ms = typeof value === 'string' ? parseRfc3339(value) : null;
  if (ms === null) return refuse('invalid_timestamp', `${field} must be an RFC 3339 timestamp between 1970 and 2200`);
  return ok({ ms, text: utcMillisText(value as string) ?? toClickHouseTime(ms) });
}

function requiredTimestamp(obj: Record<string, unknown>, field: string): Checked<Instant> {
  const checked = timestamp(obj, field);
  if (checked.ok && checked.value === undefined) return refuse('missing_field', `${field} is required`);
  return checked as Checked<Instant>;
}

function amount(obj: Record<string, unknown>): Checked<string | undefined> {
  if (obj.amount === undefined || obj.amount === null) return ok(undefined);
  const parsed = parseAmount(obj.amount);
  return parsed.ok ? ok(parsed.value) : refuse(parsed.code, parsed.message);
}

function requiredAmount(obj: Record<string, unknown>): Checked<string> {
  const checked = amount(obj);
  if (checked.ok && checked.value === undefined) return refuse('missing_field', 'amount is required');
  return checked as Checked<string>;
}

/** Control characters have no place in an identifier, and ingest uses two of them as separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

interface Wallet {
  type: WalletType;
  id: string;
}

/** A wallet of the event's account: `{ type, id }`, with an optional `account_id` that must match. */
function wallet(obj: Record<string, unknown>, field: string, accountId: string): Checked<Wallet> {
  const value = obj[field];
  if (value === undefined || value === null) return refuse('missing_field', `${field} is required`);
  if (typeof value !== 'object' || Array.isArray(value)) return refuse('invalid_wallet', `${field} must be an object { type, id }`);
  const w = value as Record<string, unknown>;
  if (w.type === undefined) return refuse('missing_field', `${field}.type is required`);
  if (w.type !== 'team' && w.type !== 'contract') return refuse('invalid_wallet', `${field}.type must be "team" or "contract"`);
  const id = requiredText(w, 'id', `${field}.id`);
  if (!id.ok) return id;
  if (w.account_id !== undefined) {
    const owner = requiredText(w, 'account_id', `${field}.account_id`);
    if (!owner.ok) return owner;
    if (owner.value !== accountId) return refuse('cross_account_move', `${field} belongs to account "${owner.value}", not "${accountId}"`);
  }
  return ok({ type: w.type, id: id.value });
}

/** A wallet's display name, 1 to 200 characters of printable text. */
function walletName(obj: Record<string, unknown>): Checked<string | undefined> {
  const value = obj.wallet_name;
  if (value === undefined || value === null) return ok(undefined);
  if (typeof value !== 'string' || value.trim().length === 0) return refuse('invalid_field', 'wallet_name must be a non-empty string');
  if ([...value].length > MAX_WALLET_NAME) return refuse('invalid_field', `wallet_name is longer than ${MAX_WALLET_NAME} characters`);
  if (CONTROL_CHARACTER.test(value)) return refuse('invalid_field', 'wallet_name must not contain control characters');
  return ok(value);
}

/** The fields every type shares, then the type's own; the first refusal found is the answer. */
function buildRow(event: Record<string, unknown>, ctx: ValidationContext): Checked<EventRow> {
  const eventId = event.event_id;
  if (eventId === undefined || eventId === null) return refuse('missing_field', 'event_id is required');
  if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > MAX_EVENT_ID || CONTROL_CHARACTER.test(eventId)) {
    return refuse('invalid_event_id', `event_id must be a string of 1 to ${MAX_EVENT_ID} characters without control characters`);
  }
  const type = event.type;
  if (type === undefined || type === null) return refuse('missing_field', 'type is required');
  if (typeof type !== 'string' || !EVENT_TYPES.includes(type as EventType)) {
    return refuse('unknown_type', `type ${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(', ')}`);
  }
  const accountId = requiredText(event, 'account_id');
  if (!accountId.ok) return accountId;
  if (CONTROL_CHARACTER.test(accountId.value)) return refuse('invalid_field', 'account_id must not contain control characters');
  if (ctx.accountScope !== undefined && accountId.value !== ctx.accountScope) {
    return refuse('account_mismatch', `account_id "${accountId.value}" is not the account of this API key`);
  }
  const occurredAt = requiredTimestamp(event, 'occurred_at');
  if (!occurredAt.ok) return occurredAt;
  const row: EventRow = { account_id: accountId.value, event_id: eventId, type: type as EventType, occurred_at: occurredAt.value.text, source: ctx.source };
  switch (type as EventType) {
    case 'purchase':
      return purchaseFields(event, row, occurredAt.value);
    case 'usage':
      return usageFields(event, row);
    case 'move':
      return moveFields(event, row);
    case 'void':
      return voidFields(event, row);
  }
}

function purchaseFields(event: Record<string, unknown>, row: EventRow, occurredAt: Instant): Checked<EventRow> {
  const w = wallet(event, 'wallet', row.account_id);
  if (!w.ok) return w;
  const amountText = requiredAmount(event);
  if (!amountText.ok) return amountText;
  const effective = timestamp(event, 'effective_at');
  if (!effective.ok) return effective;
  const expires = requiredTimestamp(event, 'expires_at');
  if (!expires.ok) return expires;
  const effectiveAt = effective.value ?? occurredAt;
  if (expires.value.ms <= effectiveAt.ms) return refuse('invalid_expiry', 'expires_at must be after effective_at');
  const lotId = optionalText(event, 'lot_id');
  if (!lotId.ok) return lotId;
  const sku = optionalText(event, 'sku');
  if (!sku.ok) return sku;
  const orderId = optionalText(event, 'order_id');
  if (!orderId.ok) return orderId;
  const name = walletName(event);
  if (!name.ok) return name;
  Object.assign(row, {
    wallet_type: w.value.type,
    wallet_id: w.value.id,
    amount: amountText.value,
    effective_at: effectiveAt.text,
    expires_at: expires.value.text,
    lot_id: lotId.value ?? row.event_id,
    ...(sku.value !== undefined ? { sku: sku.value } : {}),
    ...(orderId.value !== undefined ? { order_id: orderId.value } : {}),
    ...(name.value !== undefined ? { wallet_name: name.value } : {}),
  });
  return ok(row);
}

function usageFields(event: Record<string, unknown>, row: EventRow): Checked<EventRow> {
  const w = wallet(event, 'wallet', row.account_id);
  if (!w.ok) return w;
  const amountText = requiredAmount(event);
  if (!amountText.ok) return amountText;
  const userId = requiredText(event, 'user_id');
  if (!userId.ok) return userId;
  const product = requiredText(event, 'product');
  if (!product.ok) return product;
  const service = optionalText(event, 'service');
  if (!service.ok) return service;
  const name = walletName(event);
  if (!name.ok) return name;
  Object.assign(row, {
    wallet_type: w.value.type,
    wallet_id: w.value.id,
    amount: amountText.value,
    user_id: userId.value,
    product: product.value,
    service: service.value ?? product.value,
    ...(name.value !== undefined ? { wallet_name: name.value } : {}),
  });
  return ok(row);
}

function moveFields(event: Record<string, unknown>, row: EventRow): Checked<EventRow> {
  const from = wallet(event, 'from', row.account_id);
  if (!from.ok) return from;
  const to = wallet(event, 'to', row.account_id);
  if (!to.ok) return to;
  if (from.value.type !== to.value.type) return refuse('wallet_type_mismatch', `a move cannot go from a ${from.value.type} to a ${to.value.type}`);
  if (from.value.id === to.value.id) return refuse('same_wallet_move', 'from and to are the same wallet');
  const requested = amount(event);
  if (!requested.ok) return requested;
  const lotId = optionalText(event, 'lot_id');
  if (!lotId.ok) return lotId;
  Object.assign(row, {
    wallet_type: from.value.type,
    wallet_id: from.value.id,
    to_wallet_type: to.value.type,
    to_wallet_id: to.value.id,
    ...(requested.value !== undefined ? { amount: requested.value } : {}),
    ...(lotId.value !== undefined ? { lot_id: lotId.value } : {}),
  });
  return ok(row);
}

function voidFields(event: Record<string, unknown>, row: EventRow): Checked<EventRow> {
  const target = requiredText(event, 'voids_event_id');
  if (!target.ok) return target;
  if (target.value.length > MAX_EVENT_ID) return refuse('invalid_field', `voids_event_id is longer than ${MAX_EVENT_ID} characters`);
  if (target.value === row.event_id) return refuse('invalid_field', 'an event cannot void itself');
  row.voids_event_id = target.value;
  return ok(row);
}

/** Validates one decoded event. Never throws for bad input. */
export function validateEvent(event: unknown, ctx: ValidationContext): ValidationResult {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, code: 'not_an_object', message: 'an event must be a JSON object' };
  }
  const e = event as Record<string, unknown>;
  const checked = buildRow(e, ctx);
  if (checked.ok) return { ok: true, row: checked.value };
  return {
    ok: false,
    code: checked.code,
    message: checked.message,
    account_id: typeof e.account_id === 'string' ? e.account_id.slice(0, MAX_TEXT) : undefined,
    event_id: typeof e.event_id === 'string' ? e.event_id.slice(0, MAX_EVENT_ID) : undefined,
  };
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
