import { Routes } from '../readPath.js';
import { AccountPairings } from '../../readmodels/accountPairings.js';
import { GROUPINGS, isTimeZone, summaryOf, topWithOthers, usageBy, usageSummary, walletUsageBy, type GroupBy, type UsageRow } from '../../readmodels/usage.js';
import type { BalanceService } from '../../readmodels/balances.js';
import type { UsageIndex } from '../../readmodels/usageIndex.js';
import type { Store } from '../../core/clickhouse.js';
import { formatScaled } from '../../core/decimal.js';
import { accountOf, requireRole } from '../auth.js';
import { answerKey, type ResponseCache } from '../responseCache.js';
import { queries } from '../schemas.js';
import { validateQuery } from '../validate.js';
import { ApiError, walletNotFound } from '../errors.js';
import { parseInteger, parseRange, parseWalletType } from '../params.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A text cell of CSV. One starting with =, +, -, @, a tab or a carriage return would be run as a
 * formula by a spreadsheet that opens the file: a leading ' keeps it text (OWASP's advice).
 */
export function csvField(value: string): string {
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row as JSON text; `keyName` is the grouping's name, already JSON-quoted. */
function rowJson(keyName: string, row: UsageRow, others = false): string {
  // Amounts answer as exact decimal strings: a JSON number cannot hold every one of them.
  return `{${keyName}:${JSON.stringify(row.key)},"amount":"${row.amount}","events":${row.events}${others ? ',"others":true' : ''}}`;
}

export function usageRouter(store: Store, balances: BalanceService, answers: ResponseCache, index: UsageIndex): Routes {
  const router = new Routes();
  const readers = requireRole('admin', 'analyst');
  const cacheKey = (account: string, now: number, url: string, variant = '') => answerKey(balances.writeStamp(account), account, now, url, variant);
  // One wallet's usage from storage takes its voids from memory: one read instead of two.
  const pairings = new AccountPairings(store);

  router.get('/v1/wallets/:type/:id/usage-summary', readers, validateQuery(queries.usageSummary), async (req, res) => {
    const type = parseWalletType('type', req.params.type, true) as 'team' | 'contract';
    const id = String(req.params.id);
    const days = parseInteger('days', req.query.days, 90, 1, 1830);
    const to = balances.now();
    const from = to - days * DAY;
    const account = accountOf(req);
    const answer = await answers.get(cacheKey(account, to, req.originalUrl), async () => {
      const query = { accountId: account, walletType: type, walletId: id, from, to };
      // From memory when the account's usage is held there and fresh; from storage otherwise.
      const memory = await index.ready(account);
      const summary = memory ? summaryOf(memory.rows({ ...query, groupBy: 'product', tz: 'UTC' }), memory.rows({ ...query, groupBy: 'user', tz: 'UTC' })) : await usageSummary(store, query);
      // A wallet with usage in the range exists; only an empty answer needs the lookup.
      if (summary.users === 0 && !(await balances.walletExists(account, type, id))) {
        throw walletNotFound(type, id);
      }
      const body = { wallet: { type, id }, products: summary.products, users: summary.users, used: formatScaled(summary.used), from: iso(from), to: iso(to) };
      return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
    });
    res.set('Cache-Control', 'private, max-age=60').type(answer.contentType).send(answer.body);
  });

  router.get('/v1/usage', readers, validateQuery(queries.usage), async (req, res) => {
    const groupBy = (req.query.group_by ?? 'service') as GroupBy;
    if (!GROUPINGS.includes(groupBy)) {
      throw new ApiError(400, 'invalid_parameter', `group_by must be one of ${GROUPINGS.join(', ')}`, { parameter: 'group_by' });
    }
    const walletType = parseWalletType('wallet_type', req.query.wallet_type, false);
    const walletId = req.query.wallet_id === undefined ? undefined : String(req.query.wallet_id);
    if (walletId !== undefined && walletType === undefined) {
      throw new ApiError(400, 'invalid_parameter', 'wallet_id needs wallet_type', { parameter: 'wallet_type' });
    }
    const tz = req.query.tz === undefined ? 'UTC' : String(req.query.tz);
    if (!isTimeZone(tz)) throw new ApiError(400, 'invalid_parameter', `tz "${tz}" is not a known time zone`, { parameter: 'tz' });
    const limit = req.query.limit === undefined ? undefined : parseInteger('limit', req.query.limit, 0, 1, 100_000);
    if (limit !== undefined && groupBy === 'day') {
      throw new ApiError(400, 'invalid_parameter', 'limit applies to group_by service, user or product', { parameter: 'limit' });
    }
    const now = balances.now();
    const range = parseRange(req.query, now);
    const account = accountOf(req);
    const query = { accountId: account, walletType, walletId, from: range.from, to: range.to, groupBy, tz, now };
    // A wallet with usage in the range exists; only an empty answer needs the lookup.
    const mustExist = async (empty: boolean) => {
      if (walletId !== undefined && empty && !(await balances.walletExists(account, walletType as string, walletId))) {
        throw walletNotFound(walletType as string, walletId);
      }
    };
    const csv = req.accepts(['application/json', 'text/csv']) === 'text/csv';
    const head = JSON.stringify({ from: iso(range.from), to: iso(range.to), group_by: groupBy, tz }).slice(0, -1);

    const answer = await answers.get(cacheKey(account, now, req.originalUrl, csv ? 'csv' : 'json'), async () => {
      const memory = await index.ready(account);
      const rows = memory
        ? memory.rows(query)
        : walletId !== undefined && walletType !== undefined && groupBy !== 'day'
          ? await walletUsageBy(store, { ...query, walletType, walletId, groupBy }, await pairings.of(account, balances.writeStamp(account)))
          : await usageBy(store, query);
      await mustExist(rows.length === 0);
      // Rows arrive ranked by amount, or in day order.
      const { top, others } = topWithOthers(rows, limit);
      if (csv) {
        const lines = [`${groupBy},amount,events`, ...top.map((row) => `${csvField(row.key)},${row.amount},${row.events}`)];
        if (others) lines.push(`(others),${others.amount},${others.events}`);
        return { status: 200, contentType: 'text/csv; charset=utf-8', body: lines.join('\n') + '\n' };
      }
      const keyName = JSON.stringify(groupBy);
      const body = top.map((r) => rowJson(keyName, r));
      if (others) body.push(rowJson(keyName, others, true));
      return { status: 200, contentType: 'application/json', body: `${head},"rows":[${body.join(',')}]}` };
    });
    res.set('Cache-Control', 'private, max-age=60').type(answer.contentType).send(answer.body);
  });

  return router;
}
