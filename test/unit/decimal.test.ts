import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatScaled, parseAmount, toScaled } from '../../core/decimal.js';
import { decodeEvent } from '../../ingest/contract.js';
import { topLevelNumberText } from '../../core/jsonText.js';

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
    [549755813887.9999, '549755813887.9999'],
  ])('the double %s handed in by code is accepted exactly as %s', (input, canonical) => {
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
    expect(parseAmount('10000000000000')).toMatchObject({ ok: false, code: 'amount_too_large' });
  });

  it('exponent notation and other spellings are refused', () => {
    for (const bad of ['1e3', '1E-2', '1.5e2', ' 1', '1 ', '+1', '.5', '5.', '1,5', '0x10', 'NaN', 'Infinity', '']) {
      expect(parseAmount(bad), bad).toMatchObject({ ok: false, code: 'invalid_amount' });
    }
    expect(parseAmount(1e-7)).toMatchObject({ ok: false, code: 'invalid_amount' });
    expect(parseAmount(1e21)).toMatchObject({ ok: false, code: 'invalid_amount' });
  });

  it('a double of 2^39 or more is refused: its last decimal digit is not known', () => {
    // 999999999999.0003 and 999999999999.0002 are the same double: the loss is the point here.
    // eslint-disable-next-line no-loss-of-precision
    expect(999999999999.0003).toBe(999999999999.0002);
    // eslint-disable-next-line no-loss-of-precision
    expect(parseAmount(999999999999.0003)).toMatchObject({ ok: false, code: 'invalid_amount' });
    expect(parseAmount(2 ** 39)).toMatchObject({ ok: false, code: 'invalid_amount' });
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
    expect(formatScaled(toScaled('0.1') + toScaled('0.2'))).toBe('0.3');
  });

  it('sums of many small amounts stay exact', () => {
    let total = 0n;
    for (let i = 0; i < 10_000; i++) total += toScaled('0.0001');
    expect(formatScaled(total)).toBe('1');
  });
});

/** Every 4-decimal amount from 0.0001 to 10^12, as canonical text. */
const anyAmount = fc.bigInt({ min: 1n, max: 10_000_000_000_000_000n }).map(formatScaled);

describe('every 4-decimal amount up to 10^12 is exact, in and out', () => {
  const event = (amountJson: string) =>
    `{"event_id":"u1","type":"usage","account_id":"acme","occurred_at":"2026-01-01T00:00:00Z",` +
    `"wallet":{"type":"team","id":"t1"},"amount":${amountJson},"user_id":"u","product":"p"}`;

  it('as a JSON number, read from the digits as written', () => {
    fc.assert(
      fc.property(anyAmount, fc.constantFrom('', '0', '00'), (amount, pad) => {
        const written = amount.includes('.') ? amount + pad : amount;
        const result = decodeEvent(event(written), { source: 'test' });
        expect(result).toMatchObject({ ok: true, row: { amount } });
      }),
      { numRuns: 5000 },
    );
  });

  it('as a JSON string', () => {
    fc.assert(
      fc.property(anyAmount, (amount) => {
        expect(decodeEvent(event(JSON.stringify(amount)), { source: 'test' })).toMatchObject({ ok: true, row: { amount } });
      }),
      { numRuns: 5000 },
    );
  });

  it('out: stored text to scaled integer and back is the same text', () => {
    fc.assert(
      fc.property(anyAmount, (amount) => {
        expect(formatScaled(toScaled(amount))).toBe(amount);
        expect(formatScaled(toScaled(`${amount}${amount.includes('.') ? '' : '.'}0000`.replace(/(\.\d{4})0+$/, '$1')))).toBe(amount);
      }),
      { numRuns: 5000 },
    );
  });

  it('the largest amounts keep their last digit', () => {
    for (const amount of ['999999999999.0003', '999999999999.9999', '1000000000000', '549755813888.0001']) {
      expect(decodeEvent(event(amount), { source: 'test' })).toMatchObject({ ok: true, row: { amount } });
    }
  });
});

describe('an amount is read from the top level of the event only', () => {
  it('finds the last top-level amount, and no nested one', () => {
    expect(topLevelNumberText('{"a":{"amount":1},"amount":2.50}', 'amount')).toBe('2.50');
    expect(topLevelNumberText('{"amount":1,"amount":"x"}', 'amount')).toBeUndefined();
    expect(topLevelNumberText('{"amount":"1","x":[{"amount":3}]}', 'amount')).toBeUndefined();
    expect(topLevelNumberText('{"am\\u006funt" : -12.3e4 }', 'amount')).toBe('-12.3e4');
    expect(topLevelNumberText('{"s":"\\"amount\\":5","amount":7}', 'amount')).toBe('7');
  });
});
