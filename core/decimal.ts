/**
 * Exact decimal amounts. The product never does arithmetic on binary floats: amounts travel as
 * canonical decimal strings, in requests, storage and responses alike, and are computed on as
 * integers scaled by 10^4.
 */
export const SCALE = 4;
export const SCALE_FACTOR = 10_000n;

export type AmountError = 'invalid_amount' | 'too_many_decimals' | 'amount_not_positive' | 'amount_too_large';

export type AmountResult = { ok: true; value: string } | { ok: false; code: AmountError; message: string };

const PLAIN_DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** Below 2^39 neighbouring doubles are less than 10^-4 apart; at and above it they are not. */
const EXACT_DOUBLE_LIMIT = 2 ** 39;

/**
 * Parses an event amount into its canonical decimal text. Ingest hands every amount over as
 * text, a JSON number included: its digits are read from the message as written
 * (`core/jsonText.ts`), never through a double.
 *
 * A double handed in by code is taken only below 2^39, where the shortest text that round-trips
 * (what `String(n)` prints) is exactly the decimal it was written as whenever that had at most 4
 * fractional digits. Above it, doubles are 1.2×10^-4 apart or more, so its last digit is not
 * known and it is refused.
 */
export function parseAmount(input: unknown): AmountResult {
  let text: string;
  if (typeof input === 'string') text = input;
  else if (typeof input === 'number' && Number.isFinite(input)) {
    if (Math.abs(input) >= EXACT_DOUBLE_LIMIT) {
      return { ok: false, code: 'invalid_amount', message: 'an amount of 2^39 or more must be read from its text, not from a double' };
    }
    text = String(input);
  } else return { ok: false, code: 'invalid_amount', message: 'amount must be a decimal number or string' };

  const match = PLAIN_DECIMAL.exec(text);
  if (!match) {
    return {
      ok: false,
      code: 'invalid_amount',
      message: /e/i.test(text)
        ? `amount "${text}" uses exponent notation; send a plain decimal`
        : `amount "${text}" is not a plain decimal`,
    };
  }
  const [, sign, intDigits = '', written = ''] = match;
  // Trailing zeros are not decimal places of the value: 1.50000 is 1.5.
  const fraction = written.replace(/0+$/, '');
  if (fraction.length > SCALE) {
    return { ok: false, code: 'too_many_decimals', message: `amount "${text}" has more than ${SCALE} decimal places` };
  }
  const intPart = intDigits.replace(/^0+(?=\d)/, '');
  const frac = fraction;
  const isZero = /^0*$/.test(intPart) && frac === '';
  if (sign === '-' || isZero) {
    return { ok: false, code: 'amount_not_positive', message: `amount "${text}" must be greater than 0` };
  }
  if (intPart.length > 13 || (intPart.length === 13 && (intPart !== '1000000000000' || frac !== ''))) {
    return { ok: false, code: 'amount_too_large', message: `amount "${text}" exceeds 10^12` };
  }
  return { ok: true, value: frac ? `${intPart}.${frac}` : intPart };
}

/** Canonical decimal text (as stored or returned by ClickHouse) to an integer scaled by 10^4. */
export function toScaled(decimal: string): bigint {
  const match = PLAIN_DECIMAL.exec(decimal.trim());
  if (!match) throw new RangeError(`not a plain decimal: "${decimal}"`);
  const [, sign, intDigits = '0', fraction = ''] = match;
  if (fraction.length > SCALE && !/^0*$/.test(fraction.slice(SCALE))) {
    throw new RangeError(`more than ${SCALE} decimal places: "${decimal}"`);
  }
  const scaled = BigInt(intDigits) * SCALE_FACTOR + BigInt(fraction.slice(0, SCALE).padEnd(SCALE, '0'));
  return sign === '-' ? -scaled : scaled;
}

/** Integer scaled by 10^4 to canonical decimal text, without trailing zeros. */
export function formatScaled(scaled: bigint): string {
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  const intPart = abs / SCALE_FACTOR;
  const frac = (abs % SCALE_FACTOR).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${intPart}${frac ? `.${frac}` : ''}`;
}

