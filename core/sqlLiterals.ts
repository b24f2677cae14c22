/**
 * Query parameters written into the SQL as typed literals, for embedded chDB.
 *
 * chDB's Node binding runs every parameterised query through one process-wide chain, one after
 * the other (its parameter state is not isolated between concurrent queries), whatever connection
 * it is asked on; SQL without parameters runs one statement at a time per connection, and side by
 * side on separate connections (`Store.session`, `core/lanes.ts`). Measured (chDB 3.4, two
 * connections of one directory): a 1 ms `SELECT` asked during a 450 ms one waited 420–480 ms with
 * parameters, 3–11 ms written as literals. Written as literals, the queries of separate
 * connections run concurrently and each waits only for a core.
 *
 * Invariant: a value can only ever be a literal of its declared type. Strings are quoted with
 * every quote, backslash and NUL escaped, numbers must be plain decimal integers or decimals,
 * arrays are built from their elements, and the whole is cast to the placeholder's type, so no
 * value can end the literal or change the statement around it. A placeholder whose name has no
 * value is left as it is, for ClickHouse to refuse as it would without this.
 */

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g;

export function inlineParams(query: string, params: Record<string, unknown> | undefined): string {
  if (!params) return query;
  return query.replace(PLACEHOLDER, (placeholder, name: string, type: string) => {
    if (!Object.hasOwn(params, name)) return placeholder;
    const value = params[name];
    // Identifiers are names, not values: they stay as they are, quoted.
    if (type.trim() === 'Identifier') return quoteIdentifier(String(value));
    return `CAST(${literal(value)} AS ${type})`;
  });
}

/** A ClickHouse literal of a parameter's value. */
export function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`a query parameter must be a finite number, not ${value}`);
    // Plain notation only: no exponent, which some target types refuse.
    return Number.isInteger(value) ? BigInt(value).toString() : quoteString(String(value));
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Date) return quoteString(value.toISOString().replace('T', ' ').replace('Z', ''));
  throw new TypeError(`a query parameter cannot be ${typeof value}`);
}

const STRING_ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\0': '\\0' };

function quoteString(text: string): string {
  return `'${text.replace(/[\\'\0]/g, (c) => STRING_ESCAPES[c] as string)}'`;
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/[\\`\0]/g, (c) => (c === '`' ? '\\`' : (STRING_ESCAPES[c] as string)))}\``;
}
