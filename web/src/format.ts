/** Dates and relative times in the browser's locale and time zone. */
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const countFormat = new Intl.NumberFormat();
const percentFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export const formatDate = (iso: string) => dateFormat.format(new Date(iso));
export const formatDateTime = (iso: string) => dateTimeFormat.format(new Date(iso));
export const formatCount = (n: number) => countFormat.format(n);
export const formatPercent = (n: number) => `${percentFormat.format(n)} %`;

export function daysLeftText(days: number): string {
  if (days <= 0) return 'expires today';
  return days === 1 ? '1 day left' : `${formatCount(days)} days left`;
}

/** "Mar 3", with the year when it is not this year's: "Mar 3, 2028". */
export function shortDate(iso: string, now = Date.now()): string {
  const date = new Date(iso);
  return date.getFullYear() === new Date(now).getFullYear() ? shortDateFormat.format(date) : formatDate(iso);
}

/** Whole local calendar days from `now` to `iso`; 0 on the same local day or before it. */
export function localDaysUntil(iso: string, now = Date.now()): number {
  const from = new Date(now);
  const to = new Date(iso);
  const days = (Date.UTC(to.getFullYear(), to.getMonth(), to.getDate()) - Date.UTC(from.getFullYear(), from.getMonth(), from.getDate())) / 86_400_000;
  return Math.max(0, Math.round(days));
}

/** When a wallet runs out at the current pace (`runs_out_at`), in words. */
export function runsOutText(runsOutAt: string | null, now = Date.now()): string {
  if (runsOutAt === null) return 'Does not run out within two years';
  const days = localDaysUntil(runsOutAt, now);
  if (days === 0) return 'Runs out today';
  return `Runs out in ${days === 1 ? '1 day' : `${formatCount(days)} days`} · ${shortDate(runsOutAt, now)}`;
}

export function agoText(seconds: number): string {
  if (seconds < 2) return 'just now';
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ago` : `${Math.floor(minutes / 60)} h ago`;
}

export const browserTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** `YYYY-MM-DD` of a local date, as date inputs hold it. */
export function localDateInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Local midnight starting the given `YYYY-MM-DD`, plus `days`. */
export function localMidnight(dateInput: string, days = 0): Date {
  const [y, m, d] = dateInput.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d + days);
}
