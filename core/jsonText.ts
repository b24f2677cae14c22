/**
 * Reading JSON text without decoding it. An event is decoded from its own text, whatever
 * carried it (a Kafka message, an NDJSON line, an element of a JSON array body), so an array
 * body is cut into the texts of its elements. And `JSON.parse` turns every number into a
 * double, and doubles above 2^39 are more than 10^-4 apart, so a 4-decimal amount near 10^12
 * would lose its last digit: the product reads an amount's digits from the text instead.
 *
 * Every reader here walks text that has already passed `JSON.parse`, so it never reports a
 * syntax error: the parser's message and position are the ones a client sees. On text that
 * ends too early the readers stop at its end and return what was complete before it.
 */

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** JSON's whitespace is space, tab, LF and CR; every other character at or below space is invalid there. */
function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && text.charCodeAt(i) <= 32) i++;
  return i;
}

/**
 * The end (exclusive) of the string literal whose opening quote is at `start`, or the end of
 * the text when it never closes. A quote closes the string unless an odd run of backslashes
 * stands before it.
 */
export function stringEnd(text: string, start: number): number {
  for (let quote = text.indexOf('"', start + 1); quote >= 0; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
  }
  return text.length;
}

/**
 * The end (exclusive) of the JSON value that starts at `start`: a string, an object or array
 * with everything nested in it, or a bare number, `true`, `false` or `null`. The end of the
 * text when the value never closes.
 */
export function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let i = start + 1;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c <= 32 || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i) - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) {
      return i + 1;
    }
  }
  return text.length;
}

/**
 * The text of each element of a JSON array, as written, without the whitespace around it.
 * When the array never closes, an element cut off by the end of the text is left out.
 */
export function arrayElementTexts(text: string): string[] {
  const elements: string[] = [];
  let i = skipWhitespace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACKET) return elements;
  i = skipWhitespace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return elements;
  while (i < text.length) {
    const end = valueEnd(text, i);
    const next = skipWhitespace(text, end);
    const c = text.charCodeAt(next);
    if (c !== COMMA && c !== CLOSE_BRACKET) break;
    elements.push(text.slice(i, end));
    if (c === CLOSE_BRACKET) break;
    i = skipWhitespace(text, next + 1);
  }
  return elements;
}

/** Whether the key literal between `start` and `end` (its quotes included) is `key`, escapes decoded. */
function keyIs(text: string, start: number, end: number, key: string): boolean {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? JSON.parse(text.slice(start, end)) === key : raw === key;
}

function isNumberStart(c: number): boolean {
  return c === 45 /* - */ || (c >= 48 && c <= 57);
}

/**
 * The literal text of the number held by `key` at the top level of a JSON object text, as
 * written, or undefined when that member is absent or not a number. When a key repeats, the
 * last one wins, as in `JSON.parse`. Keys are compared after unescaping, so `"am\u006fount"`
 * is `amount` too.
 */
export function topLevelNumberText(text: string, key: string): string | undefined {
  let found: string | undefined;
  let i = skipWhitespace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  i = skipWhitespace(text, i + 1);
  while (text.charCodeAt(i) === QUOTE) {
    const keyEnd = stringEnd(text, i);
    const colon = skipWhitespace(text, keyEnd);
    if (text.charCodeAt(colon) !== COLON) break;
    const valueStart = skipWhitespace(text, colon + 1);
    if (valueStart >= text.length) break;
    const end = valueEnd(text, valueStart);
    if (keyIs(text, i, keyEnd, key)) found = isNumberStart(text.charCodeAt(valueStart)) ? text.slice(valueStart, end) : undefined;
    const next = skipWhitespace(text, end);
    if (text.charCodeAt(next) !== COMMA) break;
    i = skipWhitespace(text, next + 1);
  }
  return found;
}
