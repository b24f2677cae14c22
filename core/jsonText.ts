/**
 * Reading JSON numbers exactly as they were written. `JSON.parse` turns every number into a
 * double, and doubles above 2^39 are more than 10^-4 apart, so a 4-decimal amount near 10^12
 * would lose its last digit. The product reads an amount's digits from the text instead.
 */

const QUOTE = 34;
const BACKSLASH = 92;

function isNumberStart(c: number): boolean {
  return c === 45 /* - */ || (c >= 48 && c <= 57);
}

function isNumberChar(c: number): boolean {
  // digits, '-', '+', '.', 'e', 'E'
  return (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
}

/** The end (exclusive) of the string literal that starts at `start` (an opening quote). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return text.length;
}

/**
 * The literal text of the number held by `key` at the top level of a JSON object text, as
 * written, or undefined when that member is absent or not a number. When a key repeats, the
 * last one wins, as in `JSON.parse`. Keys are compared after unescaping, so `"am\u006fount"`
 * is `amount` too. The text must already have passed `JSON.parse`.
 */
export function topLevelNumberText(text: string, key: string): string | undefined {
  let depth = 0;
  let found: string | undefined;
  let expectKey = false;
  // The key whose value comes next, at the top level.
  let currentKey: string | undefined;
  const valueStarts = (value: string | undefined) => {
    if (currentKey === key) found = value;
    currentKey = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && expectKey) {
        const literal = text.slice(i, end);
        currentKey = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
        expectKey = false;
      } else if (depth === 1) {
        valueStarts(undefined);
      }
      i = end - 1;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (depth === 1) valueStarts(undefined);
      depth++;
      if (depth === 1 && c === 123) expectKey = true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 44 /* , */ && depth === 1) {
      expectKey = true;
      currentKey = undefined;
    } else if (depth === 1 && currentKey !== undefined && c !== 58 /* : */ && c > 32) {
      if (isNumberStart(c)) {
        let end = i + 1;
        while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
        valueStarts(text.slice(i, end));
        i = end - 1;
      } else {
        // true, false or null
        valueStarts(undefined);
      }
    }
  }
  return found;
}
