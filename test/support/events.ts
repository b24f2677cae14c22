/** Builders for contract-valid events; tests override only what they are about. */
export const ACCOUNT = 'acme';

type Fields = Record<string, unknown>;

export function purchase(eventId: string, fields: Fields = {}): Fields {
  return {
    event_id: eventId,
    type: 'purchase',
    account_id: ACCOUNT,
    occurred_at: '2026-01-01T00:00:00Z',
    wallet: { type: 'team', id: 'platform' },
    amount: '1000',
    expires_at: '2027-01-01T00:00:00Z',
    ...fields,
  };
}

export function usage(eventId: string, fields: Fields = {}): Fields {
  return {
    event_id: eventId,
    type: 'usage',
    account_id: ACCOUNT,
    occurred_at: '2026-02-01T12:00:00Z',
    wallet: { type: 'team', id: 'platform' },
    amount: '2.5',
    user_id: 'ada',
    product: 'compiler',
    ...fields,
  };
}

export function move(eventId: string, fields: Fields = {}): Fields {
  return {
    event_id: eventId,
    type: 'move',
    account_id: ACCOUNT,
    occurred_at: '2026-03-01T00:00:00Z',
    from: { type: 'team', id: 'platform' },
    to: { type: 'team', id: 'mobile' },
    ...fields,
  };
}

export function voidOf(eventId: string, target: string, fields: Fields = {}): Fields {
  return {
    event_id: eventId,
    type: 'void',
    account_id: ACCOUNT,
    occurred_at: '2026-03-02T00:00:00Z',
    voids_event_id: target,
    ...fields,
  };
}

export function ndjson(events: unknown[]): string {
  return events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n';
}
