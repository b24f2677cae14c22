import { useCallback, useEffect, useState } from 'preact/hooks';

/**
 * What an admin would share lives in the query string: search, filters, sort, the open wallet,
 * the usage scope, range and top N, and the span of the open wallet's balance history. Reloading or sending the link shows the same view.
 */
export type Filter = 'red' | 'expiring' | 'overage' | 'runs-out';
export type Sort = 'name' | 'available' | 'expiry' | 'runs-out' | 'overage' | 'total';
/** The balance history's span in the wallet's details, in days back from today. */
export type HistoryDays = 30 | 90 | 365;
export const HISTORY_DAYS: HistoryDays[] = [30, 90, 365];

export interface ViewState {
  q: string;
  filters: Filter[];
  sort: Sort;
  /** The wallet whose details are open, `type/id`. */
  wallet?: string;
  /** The usage details' wallet, `type/id`; all wallets when absent. */
  scope?: string;
  /** Custom range as local dates `YYYY-MM-DD`, both inclusive; the past 90 days when absent. */
  from?: string;
  to?: string;
  top: number;
  history: HistoryDays;
}

const FILTERS: Filter[] = ['red', 'expiring', 'overage', 'runs-out'];
const SORTS: Sort[] = ['name', 'available', 'expiry', 'runs-out', 'overage', 'total'];
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readViewState(search = location.search): ViewState {
  const params = new URLSearchParams(search);
  const filters = (params.get('filter') ?? '').split(',').filter((f): f is Filter => FILTERS.includes(f as Filter));
  const sort = params.get('sort') as Sort | null;
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const top = Number(params.get('top'));
  const historyDays = Number(params.get('history'));
  return {
    q: params.get('q') ?? '',
    filters,
    sort: sort && SORTS.includes(sort) ? sort : 'name',
    wallet: params.get('wallet') || undefined,
    scope: params.get('scope') || undefined,
    ...(DATE.test(from) && DATE.test(to) && from <= to ? { from, to } : {}),
    top: [5, 10, 20].includes(top) ? top : 10,
    history: HISTORY_DAYS.includes(historyDays as HistoryDays) ? (historyDays as HistoryDays) : 90,
  };
}

export function viewStateSearch(state: ViewState): string {
  const params = new URLSearchParams();
  if (state.q) params.set('q', state.q);
  if (state.filters.length) params.set('filter', state.filters.join(','));
  if (state.sort !== 'name') params.set('sort', state.sort);
  if (state.wallet) params.set('wallet', state.wallet);
  if (state.scope) params.set('scope', state.scope);
  if (state.from && state.to) {
    params.set('from', state.from);
    params.set('to', state.to);
  }
  if (state.top !== 10) params.set('top', String(state.top));
  if (state.history !== 90) params.set('history', String(state.history));
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function useViewState(): [ViewState, (change: Partial<ViewState>) => void] {
  const [state, setState] = useState(readViewState);
  useEffect(() => {
    const onPop = () => setState(readViewState());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const update = useCallback((change: Partial<ViewState>) => {
    setState((current) => {
      const next = { ...current, ...change };
      const search = viewStateSearch(next);
      if (search !== location.search) history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
      return next;
    });
  }, []);
  return [state, update];
}
