import { describe, expect, it } from 'vitest';
import { formatScaled, parseAmount, scaledToNumber, toScaled } from '../../core/decimal.js';

describe('amounts are exact decimals', () => {
  it.each([
    ['1', '1'],
    ['0.0001', '0.0001'],
    ['12.3400', '12.34'],
    ['007.5', '7.5'],
    ['1000000000000', '1000000000000'],
    ['1000000000000.0000', '1000000000000'],
    ['999999999999.9999', '999999999999.9999'],
  ])('the string %s is accepted as %s', (input, canonical) => {
    expect(parseAmount(input)).toEqual({ ok: true, value: canonical });
  });

  it.each([
    [1, '1'],
    [0.0001, '0.0001'],
    [2.5, '2.5'],
    [123456789012.1234, '123456789012.1234'],
    [999999999999.9999, '999999999999.9999'],
  ])('the JSON number %s is accepted exactly as %s', (input, canonical) => {
    expect(parseAmount(input)).toEqual({ ok: true, value: canonical });
  });

  it('a float artefact is refused, never rounded away', () => {
    // 0.1 + 0.2 - 0.2 is 0.10000000000000003 as a double.
    expect(parseAmount(0.1 + 0.2 - 0.2)).toMatchObject({ ok: false, code: 'too_many_decimals' });
  });

  it('a fifth decimal place is refused, even when it is zero-padded data', () => {
    expect(parseAmount('1.00001')).toMatchObject({ ok: false, code: 'too_many_decimals' });
    expect(parseAmount(1.00001)).toMatchObject({ ok: false, code: 'too_many_decimals' });
    expect(parseAmount('0.12345')).toMatchObject({ ok: false, code: 'too_many_decimals' });
  });

  it('zero and negative amounts are refused', () => {
    expect(parseAmount('0')).toMatchObject({ ok: false, code: 'amount_not_positive' });
    expect(parseAmount('0.0000')).toMatchObject({ ok: false, code: 'amount_not_positive' });
    expect(parseAmount(-3)).toMatchObject({ ok: false, code: 'amount_not_positive' });
    expect(parseAmount('-0.5')).toMatchObject({ ok: false, code: 'amount_not_positive' });
  });

  it('amounts above 10^12 are refused', () => {
    expect(parseAmount('1000000000000.0001')).toMatchObject({ ok: false, code: 'amount_too_large' });
    expect(parseAmount('10000000000000')).toMatchObject({ ok: false, code: 'amount_too_large' });
    expect(parseAmount(1e13)).toMatchObject({ ok: false, code: 'amount_too_large' });
  });

  it('exponent notation and other spellings are refused', () => {
    for (const bad of ['1e3', '1E-2', '1.5e2', ' 1', '1 ', '+1', '.5', '5.', '1,5', '0x10', 'NaN', 'Infinity', '']) {
      expect(parseAmount(bad), bad).toMatchObject({ ok: false, code: 'invalid_amount' });
    }
    expect(parseAmount(1e-7)).toMatchObject({ ok: false, code: 'invalid_amount' });
    expect(parseAmount(1e21)).toMatchObject({ ok: false, code: 'invalid_amount' });
  });

  it('non-numeric values are refused', () => {
    for (const bad of [true, null, {}, [], Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(parseAmount(bad)).toMatchObject({ ok: false, code: 'invalid_amount' });
    }
  });

  it('scaled integers round-trip through text without loss', () => {
    expect(toScaled('999999999999.9999')).toBe(9999999999999999n);
    expect(formatScaled(9999999999999999n)).toBe('999999999999.9999');
    expect(toScaled('-0.5')).toBe(-5000n);
    expect(formatScaled(-5000n)).toBe('-0.5');
    expect(toScaled('12.3400')).toBe(123400n);
    expect(formatScaled(123400n)).toBe('12.34');
    expect(formatScaled(0n)).toBe('0');
    expect(scaledToNumber(toScaled('0.1')) + scaledToNumber(toScaled('0.2'))).not.toBe(0.3);
    expect(scaledToNumber(toScaled('0.1') + toScaled('0.2'))).toBe(0.3);
  });

  it('sums of many small amounts stay exact', () => {
    let total = 0n;
    for (let i = 0; i < 10_000; i++) total += toScaled('0.0001');
    expect(formatScaled(total)).toBe('1');
  });
});
