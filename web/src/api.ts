import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './generated/api';

/**
 * The page's only way to the server: a client typed by the API's own OpenAPI document, so a
 * changed contract breaks the build rather than the page. It reads only the public /v1 API, with
 * the key the admin signed in with.
 */
type Schemas = components['schemas'];
export type WalletRef = Schemas['Wallets']['wallets'][number]['wallet'];
/** `name` is the wallet's display name; a wallet never named shows its id. */
export type WalletRow = Schemas['Wallets']['wallets'][number] & { name?: string | null };
export type ExpiringLot = Schemas['Expiring']['lots'][number];
export type TokenEvent = Schemas['TokenEvents']['events'][number];
export type TokenEventsPage = Schemas['TokenEvents'];
export type UsageSummary = Schemas['UsageSummary'];
export type UsageAnswer = Schemas['Usage'];
export type UsageRow = UsageAnswer['rows'][number];
export type GroupBy = UsageAnswer['group_by'];
export type UsageQuery = NonNullable<paths['/v1/usage']['get']['parameters']['query']>;

/** A route's 200 answer, as the OpenAPI document types it. */
type Answer<P extends keyof paths> = paths[P] extends { get: { responses: { 200: { content: { 'application/json': infer T } } } } } ? T : never;
export type Forecast = Answer<'/v1/wallets/{type}/{id}/forecast'>;
export type ExpiringUnused = Forecast['expiring_unused'][number];
export type BalanceHistory = Answer<'/v1/wallets/{type}/{id}/history'>;
export type HistoryRow = BalanceHistory['rows'][number];
export type MoveSuggestions = Answer<'/v1/suggestions/moves'>;
export type MoveSuggestion = MoveSuggestions['suggestions'][number];

export const walletKey = (w: WalletRef) => `${w.type}/${w.id}`;
export const walletLabel = (row: { wallet: WalletRef; name?: string | null }) => row.name || row.wallet.id;

export function parseWalletKey(key: string | null | undefined): WalletRef | undefined {
  const match = /^(team|contract)\/(.+)$/.exec(key ?? '');
  return match ? { type: match[1] as WalletRef['type'], id: match[2] as string } : undefined;
}

export class Unauthorized extends Error {}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Api {
  client: Client<paths>;
  /** Throws Unauthorized on 401 and ApiFailure on any other error; `undefined` on 304. */
  check<T>(result: { data?: T; error?: unknown; response: Response }): T | undefined;
}

export function createApi(key: string): Api {
  const client = createClient<paths>({
    baseUrl: location.origin,
    headers: { authorization: `Bearer ${key}` },
    // Conditional reads are ours to make: the browser cache must neither answer nor revalidate.
    cache: 'no-store',
  });
  return {
    client,
    check(result) {
      const { response } = result;
      if (response.status === 304) return undefined;
      if (response.status === 401) throw new Unauthorized('the API key was not accepted');
      if (!response.ok) {
        const error = result.error as { error?: { message?: string } } | undefined;
        throw new ApiFailure(response.status, error?.error?.message ?? `the server answered ${response.status}`);
      }
      return result.data as NonNullable<typeof result.data>;
    },
  };
}

/** Checks a key by reading the wallet list once. */
export async function verifyKey(key: string): Promise<void> {
  const api = createApi(key);
  api.check(await api.client.GET('/v1/wallets'));
}
