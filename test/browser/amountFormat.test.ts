import { describe, expect, it } from 'vitest';
import { formatAmount, percentOf, toScaled } from '../../web/src/amount.js';

/** The page shows amounts from their exact decimal text, in the reader's locale, never via a float. */
describe('amounts on the Balances page', () => {
  it('keeps every digit, even of sums a double cannot hold', () => {
    // A double reads 123456789012345.0001 as 123456789012345: its steps there are 1/64.
    expect(formatAmount('999999999999.9997', 4, 'en-US')).toBe('999,999,999,999.9997');
    expect(formatAmount('123456789012345.0001', 4, 'en-US')).toBe('123,456,789,012,345.0001');
  });

  it("groups and separates by the reader's locale", () => {
    expect(formatAmount('1234567.5', 4, 'de-DE')).toBe('1.234.567,5');
    expect(formatAmount('1234567.5', 4, 'fr-FR')).toMatch(/^1\s234\s567,5$/u);
    expect(formatAmount('1234567.5', 4, 'en-IN')).toBe('12,34,567.5');
  });

  it('accepts the numbers older answers carried, and drops trailing zeros', () => {
    expect(formatAmount(1234.5, 4, 'en-US')).toBe('1,234.5');
    expect(formatAmount('10.5000', 4, 'en-US')).toBe('10.5');
    expect(formatAmount('0', 4, 'en-US')).toBe('0');
    expect(formatAmount('-12.25', 4, 'en-US')).toBe('−12.25');
  });

  it('rounds half away from zero on the digits when fewer decimals are shown', () => {
    expect(formatAmount('14766.5', 0, 'en-US')).toBe('14,767');
    expect(formatAmount('14766.4999', 0, 'en-US')).toBe('14,766');
    expect(formatAmount('0.005', 2, 'en-US')).toBe('0.01');
  });

  it('reads amounts as scaled integers, and shares for the donut from them', () => {
    expect(toScaled('1.23456')).toBe(12345n);
    expect(toScaled('not a number')).toBe(0n);
    expect(percentOf('20', '100')).toBe(20);
    expect(percentOf('1', '0')).toBe(0);
  });
});
