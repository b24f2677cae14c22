import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Store } from '../../core/clickhouse.js';
import { inlineParams } from '../../core/sqlLiterals.js';
import { freshStore } from '../support/store.js';

/**
 * The embedded store writes query parameters into the SQL as literals (core/sqlLiterals.ts), so
 * chDB runs the queries side by side. A value must come back exactly as given, whatever it holds,
 * and can never change the statement it sits in.
 */
describe('query parameters written as literals', () => {
  let store: Store;
  beforeAll(async () => {
    store = await freshStore();
  });
  afterAll(async () => store.close());

  const echo = async (value: unknown, type: string) =>
    (await store.queryRows<{ v: unknown }>(`SELECT {v:${type}} AS v`, { v: value }))[0]?.v;

  it('gives back any string exactly, quotes, backslashes, NULs, newlines and braces included', async () => {
    const awkward = ["it's", 'back\\slash', "\\'", "'; DROP TABLE events_v1; --", 'nul\0byte', 'line\nbreak\ttab', '{v:String}', 'émoji 🙂', "\\\\''\\"];
    for (const value of awkward) expect(await echo(value, 'String')).toBe(value);
  });

  it('gives back random strings and arrays of them exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }), async (text, list) => {
        // Lone surrogates are not text: they cannot reach storage as themselves on any path.
        fc.pre(Buffer.from(text, 'utf8').toString('utf8') === text);
        expect(await echo(text, 'String')).toBe(text);
        expect(await echo(list, 'Array(String)')).toEqual(list);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps integers exact beyond 2^53 and nests arrays', async () => {
    expect((await store.queryRows<{ v: string }>('SELECT toString({v:Int64}) AS v', { v: '9223372036854775807' }))[0]?.v).toBe('9223372036854775807');
    expect(await echo(-42, 'Int32')).toBe(-42);
    expect((await store.queryRows<{ v: string }>('SELECT toString({v:Array(Array(Int64))}) AS v', { v: [[1, 2], [3]] }))[0]?.v).toBe('[[1,2],[3]]');
  });

  it('leaves a placeholder without a value for ClickHouse to refuse, and refuses values that are not data', () => {
    expect(inlineParams('SELECT {a:String}, {b:String}', { a: 'x' })).toBe("SELECT CAST('x' AS String), {b:String}");
    expect(() => inlineParams('SELECT {a:Int64}', { a: Number.NaN })).toThrow(/finite/);
    expect(() => inlineParams('SELECT {a:String}', { a: { toString: () => "'" } })).toThrow(/cannot be object/);
  });

  it('a value meant to end the literal is refused by the cast, not run', async () => {
    await expect(echo("1) AS v, (SELECT 2", 'Int64')).rejects.toThrow();
  });
});
