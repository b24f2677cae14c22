/**
 * The conditions of a dashboard or alert query, for checking how it filters: the text of every
 * WHERE, PREWHERE, HAVING and JOIN … ON, string literals blanked so a keyword or a bracket in
 * quotes is not taken for SQL.
 */

const CLAUSE_START = /\b(PREWHERE|WHERE|HAVING|ON)\b/gi;
const CLAUSE_END = /\b(PREWHERE|WHERE|HAVING|GROUP\s+BY|ORDER\s+BY|LIMIT|SETTINGS|UNION|FORMAT|WINDOW|QUALIFY|(?:LEFT|RIGHT|INNER|FULL|CROSS)(?:\s+(?:OUTER|ANY|ALL|SEMI|ANTI|ASOF))?\s+JOIN|JOIN)\b/i;

/** `'it''s'` → `'    '`: literals keep their length and quotes, and lose their content. */
function blankStrings(sql: string): string {
  return sql.replace(/'(?:\\.|''|[^'\\])*'/g, (literal) => `'${' '.repeat(literal.length - 2)}'`);
}

export function filterConditions(sql: string): string[] {
  const text = blankStrings(sql);
  const conditions: string[] = [];
  for (const start of text.matchAll(CLAUSE_START)) {
    const from = (start.index ?? 0) + start[0].length;
    const rest = text.slice(from);
    const end = CLAUSE_END.exec(rest);
    conditions.push(rest.slice(0, end ? end.index : rest.length).trim());
  }
  return conditions;
}

/**
 * Every place a condition reaches a wallet key column through a function (`concat(…)`,
 * `toString(wallet_type)`, …) instead of comparing the column itself, which keeps ClickHouse from
 * using the primary key. The plugin's `$__conditionalAll(…)` is a macro, not a function.
 */
export function keyColumnsBehindFunctions(sql: string): string[] {
  const found: string[] = [];
  for (const condition of filterConditions(sql)) {
    for (const m of condition.matchAll(/(?<![\w$])[A-Za-z_]\w*\(\s*(?:\w+\.)?(?:wallet_type|wallet_id)\b/g)) found.push(m[0]);
    for (const m of condition.matchAll(/(?<![\w$])concat\(/gi)) found.push(m[0]);
  }
  return found;
}
