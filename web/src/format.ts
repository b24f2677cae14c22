/** Dates and relative times in the browser's locale and time zone. */
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
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
