/**
 * What Grafana and the ClickHouse plugin do to a query's SQL before ClickHouse sees it, for the
 * tests only (no Grafana server runs here). See `shared/grafana/README.md`:
 * - in the browser, template variables: `$__conditionalAll(cond, $v)`, `${v:singlequote}`,
 *   `${v:csv}`, `${v:text}`, `${v}` and `$v` (never in alert rules, which run in the backend);
 * - in the plugin's backend, comments are stripped and then its macros expanded
 *   (`$__timeFilter(c)`, `$__fromTime`, `$__interval_s`, …); an unknown `$__name` stays as it is.
 */

export interface TimeRange {
  /** Epoch milliseconds. */
  from: number;
  to: number;
}

export interface Variable {
  /** The selected values, or `$__all`. */
  current: string[] | '$__all';
  /** Every option, as `{ value, text }`. */
  options: Array<{ value: string; text: string }>;
  multi: boolean;
  allValue?: string;
}

export type Variables = Record<string, Variable>;

/** The argument list of a call starting at `open` (the index of `(`): its end and its arguments. */
function callArguments(text: string, open: number): { end: number; args: string[] } {
  const args: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return { end: i + 1, args };
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error(`unbalanced parentheses after ${text.slice(open - 20, open + 20)}`);
}

/** Replaces every `name(...)` call in `text` with `expand(args)`. */
function replaceCalls(text: string, name: string, expand: (args: string[]) => string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const at = text.indexOf(`${name}(`, i);
    if (at < 0) return out + text.slice(i);
    const { end, args } = callArguments(text, at + name.length);
    out += text.slice(i, at) + expand(args);
    i = end;
  }
}

function selectedValues(variable: Variable): string[] {
  if (variable.current === '$__all') return variable.allValue !== undefined ? [variable.allValue] : variable.options.map((o) => o.value);
  return variable.current;
}

function isAll(variable: Variable | undefined): boolean {
  return variable === undefined || variable.current === '$__all' || variable.current.length === 0;
}

function formatVariable(name: string, variable: Variable | undefined, format: string | undefined): string {
  if (!variable) throw new Error(`variable $${name} is used but not defined`);
  if (format === 'text') {
    if (variable.current === '$__all') return 'All';
    return variable.current.map((v) => variable.options.find((o) => o.value === v)?.text ?? v).join(' + ');
  }
  if (variable.current === '$__all' && variable.allValue !== undefined) return variable.allValue;
  const values = selectedValues(variable);
  const quoted = () => values.map((v) => `'${v.replaceAll("'", "\\'")}'`).join(',');
  switch (format) {
    case 'singlequote':
      return quoted();
    case 'csv':
      return values.join(',');
    case undefined:
      // A multi-value variable is a quoted list; a single value goes in as it is.
      return variable.multi || variable.current === '$__all' ? quoted() : (values[0] ?? '');
    default:
      throw new Error(`format :${format} is not expanded by these tests`);
  }
}

/**
 * The arguments of a `$__conditionalAll(` whose `(` is at `open`, found as the plugin's frontend
 * finds them (`getMacroArgs` in its `CHDatasource.ts`): it counts round brackets only, not quotes
 * or square brackets, and splits at every comma one level deep. More or fewer than two arguments,
 * and the plugin leaves the macro in the query as it is.
 */
export function conditionalAllArguments(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(text.slice(start, i));
      return args;
    }
  }
  return [];
}

/** `$__conditionalAll(cond, $v)` as the plugin expands it: from the last one back, `1=1` for All or empty. */
function expandConditionalAll(sql: string, variables: Variables): string {
  const macro = '$__conditionalAll(';
  let text = sql;
  for (let at = text.lastIndexOf(macro); at >= 0; at = text.lastIndexOf(macro)) {
    const args = conditionalAllArguments(text, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`the plugin would leave this $__conditionalAll unexpanded (${args.length} arguments): ${text.slice(at, at + 120)}`);
    const [condition, variable] = args as [string, string];
    const ref = /^\$\{?(\w+)\}?$/.exec(variable.trim());
    if (!ref) throw new Error(`$__conditionalAll needs a variable as its last argument: ${variable}`);
    const end = at + macro.length + condition.length + 1 + variable.length + 1;
    text = text.slice(0, at) + (isAll(variables[ref[1] as string]) ? '1=1' : condition) + text.slice(end);
  }
  return text;
}

/** The browser's part: conditionalAll first (it needs the raw `$v`), then every variable. */
export function interpolateVariables(sql: string, variables: Variables): string {
  const conditional = expandConditionalAll(sql, variables);
  return conditional.replace(/\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g, (_, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    return formatVariable(name, variables[name], format);
  });
}

const seconds = (ms: number) => Math.floor(ms / 1000);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The plugin backend's part: comments out, then its macros. */
export function expandMacros(sql: string, range: TimeRange, intervalSeconds = 60): string {
  let text = sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const interval = Math.max(1, Math.floor(intervalSeconds));
  const calls: Array<[string, (c: string) => string]> = [
    ['$__timeFilter_ms', (c) => `${c} >= fromUnixTimestamp64Milli(${range.from}) AND ${c} <= fromUnixTimestamp64Milli(${range.to})`],
    ['$__timeFilter', (c) => `${c} >= toDateTime(${seconds(range.from)}) AND ${c} <= toDateTime(${seconds(range.to)})`],
    ['$__dateFilter', (c) => `${c} >= toDate('${day(range.from)}') AND ${c} <= toDate('${day(range.to)}')`],
    ['$__timeInterval', (c) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${interval} second)`],
  ];
  for (const [name, expand] of calls) text = replaceCalls(text, name, (args) => expand(args[0] as string));
  return text
    .replaceAll('$__fromTime_ms', `fromUnixTimestamp64Milli(${range.from})`)
    .replaceAll('$__toTime_ms', `fromUnixTimestamp64Milli(${range.to})`)
    .replaceAll('$__fromTime', `toDateTime(${seconds(range.from)})`)
    .replaceAll('$__toTime', `toDateTime(${seconds(range.to)})`)
    .replaceAll('$__interval_s', String(interval));
}

/** A panel or variable query as ClickHouse receives it from Grafana. */
export function expandPanelQuery(sql: string, variables: Variables, range: TimeRange): string {
  return expandMacros(interpolateVariables(sql, variables), range);
}

/** An alert rule's query: only the backend expands it, so browser-only syntax must not be there. */
export function expandAlertQuery(sql: string, range: TimeRange): string {
  if (/\$(?!__(timeFilter|fromTime|toTime|dateFilter|timeInterval|interval_s))/.test(sql)) {
    throw new Error('an alert query uses a template variable or a browser-only macro, which Grafana alerting never expands');
  }
  return expandMacros(sql, range);
}
