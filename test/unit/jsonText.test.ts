import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { arrayElementTexts, topLevelNumberText, valueEnd } from '../../core/jsonText.js';

describe('an array body is cut into the texts of its events', () => {
  it('each element keeps its text as written, without the whitespace around it', () => {
    expect(arrayElementTexts('[ {"amount": 1.50} ,\n\t{"amount":2}\r\n]')).toEqual(['{"amount": 1.50}', '{"amount":2}']);
    expect(arrayElementTexts('[]')).toEqual([]);
    expect(arrayElementTexts('[ \n ]')).toEqual([]);
    expect(arrayElementTexts('[1e3,-0.50,true,null,"x"]')).toEqual(['1e3', '-0.50', 'true', 'null', '"x"']);
  });

  it('quotes, backslashes and brackets inside strings do not end an element', () => {
    const first = String.raw`{"note":"a \"quoted\", [bracketed] {braced} note","path":"C:\\dir\\"}`;
    const second = String.raw`{"s":"\\\"","t":"\\"}`;
    expect(arrayElementTexts(`[${first},${second}]`)).toEqual([first, second]);
    expect(arrayElementTexts(String.raw`["\\",",","]"]`)).toEqual([String.raw`"\\"`, '","', '"]"']);
  });

  it('nested arrays and objects stay whole inside their element', () => {
    const nested = '{"wallet":{"type":"team","tags":[[1,2],{"a":[]}]},"amount":3}';
    expect(arrayElementTexts(`[${nested}, [[],[{}]], {}]`)).toEqual([nested, '[[],[{}]]', '{}']);
  });

  it('every element text decodes to that element', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue()), fc.constantFrom(undefined, 1, '\t', ' \r\n'), (events, indent) => {
        const body = JSON.stringify(events, null, indent);
        const texts = arrayElementTexts(body);
        expect(texts.map((t) => JSON.parse(t) as unknown)).toEqual(JSON.parse(body));
      }),
    );
  });

  it('an element cut off by the end of the text is left out, never returned half', () => {
    expect(arrayElementTexts('[{"a":1},{"b":')).toEqual(['{"a":1}']);
    expect(arrayElementTexts('[{"a":1},"unterminated \\"')).toEqual(['{"a":1}']);
    expect(arrayElementTexts('[{"a":1},{"b":2}')).toEqual(['{"a":1}']);
    expect(arrayElementTexts('[')).toEqual([]);
    expect(arrayElementTexts('')).toEqual([]);
  });
});

describe('a value ends where JSON says it does', () => {
  it('strings, containers and bare literals', () => {
    expect(valueEnd(String.raw`"a\"b\\" ,`, 0)).toBe(8);
    expect(valueEnd('{"a":[1,{"b":"}"}]} ,', 0)).toBe(19);
    expect(valueEnd('-12.5e3}', 0)).toBe(7);
  });

  it('a value that never closes ends at the end of the text', () => {
    expect(valueEnd('"abc\\"', 0)).toBe(6);
    expect(valueEnd('{"a":[1,2}', 0)).toBe(10);
  });
});

describe('an amount is read from its digits at the top level of the event', () => {
  it('keys and strings with escaped quotes and backslashes do not confuse the reader', () => {
    expect(topLevelNumberText(String.raw`{"note":"\\","amount":5}`, 'amount')).toBe('5');
    expect(topLevelNumberText(String.raw`{"note\"amount":1,"amount" : 0.0001 }`, 'amount')).toBe('0.0001');
    expect(topLevelNumberText(String.raw`{"x":{"amount":1,"y":[{"amount":2}]},"amount":"3"}`, 'amount')).toBeUndefined();
  });

  it('an event cut off by the end of the text yields the amount written before the cut, if any', () => {
    expect(topLevelNumberText('{"amount":12', 'amount')).toBe('12');
    expect(topLevelNumberText('{"amount":', 'amount')).toBeUndefined();
    expect(topLevelNumberText(String.raw`{"note":"never closed, \"amount\":1`, 'amount')).toBeUndefined();
  });
});
