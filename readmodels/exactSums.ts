import { formatScaled } from '../core/decimal.js';

/**
 * Exact sums of amounts in doubles. An amount is an integer scaled by 10^4 (at most 10^16
 * scaled), split into two halves, `hi` × 10^8 + `lo`, each held in a double and summed on its
 * own: 90 million of either half still sum below 2^53, so every sum is exact, and a pass over
 * millions of amounts adds doubles instead of bigints.
 */
export const SPLIT = 100_000_000;

/** Decimal text (at most 4 fractional digits, at most 10^12) as the two exact halves of its scaled integer. */
export function halves(text: string): [number, number] {
  const dot = text.indexOf('.');
  const negative = text.startsWith('-');
  const intText = dot < 0 ? text.slice(negative ? 1 : 0) : text.slice(negative ? 1 : 0, dot);
  const frac = dot < 0 ? 0 : Number(text.slice(dot + 1).padEnd(4, '0').slice(0, 4));
  const int = Number(intText);
  const hi = Math.floor(int / 10_000);
  const lo = (int % 10_000) * 10_000 + frac;
  return negative ? [-hi, -lo] : [hi, lo];
}

/** The scaled integer of a sum of halves. */
export function scaledOf(hi: number, lo: number): bigint {
  return BigInt(hi) * BigInt(SPLIT) + BigInt(lo);
}

/** The exact decimal text of a sum of halves. */
export function joined(hi: number, lo: number): string {
  return formatScaled(scaledOf(hi, lo));
}
