/**
 * Amounts arrive as exact decimal strings ("1234.5"); numbers are accepted too. Digits never pass
 * through a binary float: the text is split into integer and fraction, the integer is grouped by
 * the browser's locale through BigInt, and the fraction is appended with the locale's separator.
 */
export type Amount = string | number;

const SCALE = 4;
const ONE = 10n ** BigInt(SCALE);

function amountText(amount: Amount): string {
  if (typeof amount === 'string') return amount.trim();
  const text = String(amount);
  return /e/i.test(text) ? amount.toFixed(SCALE) : text;
}

/** The amount as an integer count of 1/10,000ths; 0 for anything unreadable. */
export function toScaled(amount: Amount | null | undefined): bigint {
  if (amount === null || amount === undefined) return 0n;
  const match = /^(-)?(\d*)(?:\.(\d*))?$/.exec(amountText(amount));
  if (!match) return 0n;
  const whole = BigInt(match[2] || '0');
  const fraction = BigInt((match[3] ?? '').padEnd(SCALE, '0').slice(0, SCALE) || '0');
  const scaled = whole * ONE + fraction;
  return match[1] ? -scaled : scaled;
}

const locales = new Map<string, { integer: Intl.NumberFormat; separator: string }>();

/** The browser's locale by default; the formatters are made once per locale. */
function locale(tag?: string): { integer: Intl.NumberFormat; separator: string } {
  const key = tag ?? '';
  let entry = locales.get(key);
  if (!entry) {
    entry = {
      integer: new Intl.NumberFormat(tag, { maximumFractionDigits: 0 }),
      separator: new Intl.NumberFormat(tag).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? '.',
    };
    locales.set(key, entry);
  }
  return entry;
}

/**
 * A scaled amount in the browser's locale. `maxFraction` rounds half away from zero on the
 * integer itself; trailing zeros of the fraction are dropped.
 */
export function formatScaled(scaled: bigint, maxFraction = SCALE, tag?: string): string {
  const negative = scaled < 0n;
  let magnitude = negative ? -scaled : scaled;
  const drop = SCALE - Math.max(0, Math.min(SCALE, maxFraction));
  if (drop > 0) {
    const unit = 10n ** BigInt(drop);
    magnitude = ((magnitude + unit / 2n) / unit) * unit;
  }
  const whole = magnitude / ONE;
  const fraction = (magnitude % ONE).toString().padStart(SCALE, '0').slice(0, SCALE - drop).replace(/0+$/, '');
  const { integer, separator } = locale(tag);
  const text = integer.format(whole) + (fraction ? separator + fraction : '');
  return negative && magnitude !== 0n ? `−${text}` : text;
}

export function formatAmount(amount: Amount | null | undefined, maxFraction = SCALE, tag?: string): string {
  return formatScaled(toScaled(amount), maxFraction, tag);
}

/** A share in percent, as a float: fine for a donut's angles and a rounded label. */
export function percentOf(part: Amount, whole: Amount): number {
  const total = toScaled(whole);
  if (total <= 0n) return 0;
  return Number((toScaled(part) * 1_000_000n) / total) / 10_000;
}

export function compareAmounts(a: Amount, b: Amount): number {
  const x = toScaled(a);
  const y = toScaled(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** An amount as a float, for chart geometry only (bar lengths); never for displayed digits. */
export function amountForGeometry(amount: Amount): number {
  return Number(amountText(amount));
}
