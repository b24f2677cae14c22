import type { Filter, Sort, ViewState } from '../urlState';

const FILTER_LABELS: Record<Filter, string> = { red: 'Low balance', expiring: 'Expiring ≤ 90 days', overage: 'In overage', 'runs-out': 'Runs out ≤ 30 days' };
const SORT_LABELS: Record<Sort, string> = {
  name: 'Name',
  available: 'Lowest available %',
  expiry: 'Soonest expiry',
  'runs-out': 'Soonest run-out',
  overage: 'Largest overage',
  total: 'Largest total',
};

/** Search by name or id, the filters and the sort; every change is reflected in the URL. */
export function Toolbar({ view, update, shown, total }: { view: ViewState; update: (change: Partial<ViewState>) => void; shown: number; total: number }) {
  const toggle = (filter: Filter) => update({ filters: view.filters.includes(filter) ? view.filters.filter((f) => f !== filter) : [...view.filters, filter] });
  return (
    <div class="toolbar" role="search" aria-label="Find wallets">
      <label class="search">
        <span class="sr-only">Search wallets by name or id</span>
        <input type="search" placeholder="Search by name or id" value={view.q} onInput={(e) => update({ q: (e.currentTarget as HTMLInputElement).value })} />
      </label>
      <fieldset class="filters">
        <legend class="sr-only">Show only</legend>
        {(Object.keys(FILTER_LABELS) as Filter[]).map((filter) => (
          <label key={filter} class={`filter ${view.filters.includes(filter) ? 'filter-on' : ''}`}>
            <input type="checkbox" name={`filter-${filter}`} checked={view.filters.includes(filter)} onChange={() => toggle(filter)} />
            {FILTER_LABELS[filter]}
          </label>
        ))}
      </fieldset>
      <label class="sort">
        <span>Sort by</span>
        <select value={view.sort} onChange={(e) => update({ sort: (e.currentTarget as HTMLSelectElement).value as Sort })}>
          {(Object.keys(SORT_LABELS) as Sort[]).map((sort) => (
            <option key={sort} value={sort}>
              {SORT_LABELS[sort]}
            </option>
          ))}
        </select>
      </label>
      <p class="match-count" aria-live="polite" data-shown={shown}>
        {shown === total ? `${total.toLocaleString()} wallets` : `${shown.toLocaleString()} of ${total.toLocaleString()} wallets`}
      </p>
    </div>
  );
}
