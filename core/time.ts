const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Earliest and latest instants the storage type holds comfortably. */
const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(2200, 0, 1);

/**
 * Parses an RFC 3339 timestamp to epoch milliseconds, or returns null. Calendar-invalid dates
 * (February 30th) are refused even though `Date.parse` would roll them over. Precision below a
 * millisecond is truncated: storage keeps milliseconds.
 */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return null;
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  const fraction = m[7] ? Number(m[7].slice(0, 4).padEnd(4, '0').slice(1)) : 0;
  const zone = m[8] as string;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, fraction) - offsetMinutes * 60_000;
  return ms >= MIN_MS && ms < MAX_MS ? ms : null;
}

/** Epoch milliseconds to the `YYYY-MM-DD hh:mm:ss.sss` text ClickHouse parses fastest. */
export function toClickHouseTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/**
 * For the common spelling `YYYY-MM-DDThh:mm:ss[.sss]Z`, the ClickHouse text by slicing, without
 * building a Date; null for any other spelling. Call only on text `parseRfc3339` accepted.
 */
export function utcMillisText(text: string): string | null {
  const n = text.length;
  if (n === 20 && (text[19] === 'Z' || text[19] === 'z')) return `${text.slice(0, 10)} ${text.slice(11, 19)}.000`;
  if (n === 24 && text[19] === '.' && (text[23] === 'Z' || text[23] === 'z')) return `${text.slice(0, 10)} ${text.slice(11, 23)}`;
  return null;
}
