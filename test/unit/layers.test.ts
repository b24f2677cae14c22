/**
 * The import directions between the product's folders: each stage reaches only the stages below
 * it, so a change to one never pulls in what depends on it. Every import of every source file is
 * read (static, type-only, re-exports and dynamic imports with a literal path); tests are not.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What each folder may import besides itself. Any other folder of the repository is refused. */
const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  storage: ['core'],
  ledger: ['core'],
  ingest: ['core', 'storage'],
  readmodels: ['core', 'storage', 'ledger'],
  aggregator: ['core', 'storage', 'ledger', 'readmodels'],
  alerts: ['core', 'storage', 'ledger', 'readmodels'],
  api: ['core', 'storage', 'ledger', 'ingest', 'readmodels', 'aggregator', 'alerts'],
};

function sourceFiles(folder: string): string[] {
  return (readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' }) as string[])
    .filter((path) => path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts'))
    .map((path) => join(folder, path).split(sep).join('/'))
    .sort();
}

interface Import {
  /** `folder/file.ts:line` of the import. */
  at: string;
  specifier: string;
  /** The top folder of the repository the import lands in; `.` for its root, `..` outside it. */
  folder: string;
}

/** The imports of a source file that point into the repository (packages are not layers). */
function projectImports(file: string): Import[] {
  const text = readFileSync(join(root, file), 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .filter(({ fileName }) => fileName.startsWith('.'))
    .map(({ fileName, pos }) => {
      const target = relative(root, resolve(root, dirname(file), fileName)).split(sep);
      const line = text.slice(0, pos).split('\n').length;
      return { at: `${file}:${line}`, specifier: fileName, folder: target.length > 1 ? (target[0] as string) : '.' };
    });
}

/** Imports of `folder`'s files into folders it may not reach, one line each. */
function wrongWay(folder: string): string[] {
  const allowed = new Set([folder, ...(MAY_IMPORT[folder] as string[])]);
  return sourceFiles(folder).flatMap((file) =>
    projectImports(file)
      .filter((imported) => !allowed.has(imported.folder))
      .map((imported) => `${imported.at} imports '${imported.specifier}' (${imported.folder}/)`),
  );
}

describe('import directions', () => {
  const rules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => [folder, allowed.length === 0 ? 'none of the other folders' : `only ${allowed.join(', ')}`]);
  it.each(rules)('%s imports %s', (folder) => {
    expect(sourceFiles(folder).length, `${folder}/ has no source files`).toBeGreaterThan(0);
    const violations = wrongWay(folder);
    expect(violations, `${folder}/ imports what it may not:\n  ${violations.join('\n  ')}`).toEqual([]);
  });

  it('reads static, type-only, re-exported and dynamic imports alike', () => {
    const text = [
      "import { a } from '../storage/a.js';",
      "import type { B } from '../ledger/b.js';",
      "export { c } from '../scripts/c.js';",
      "await import('../api/d.js');",
      "import 'kafkajs';",
    ].join('\n');
    expect(ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName)).toEqual([
      '../storage/a.js',
      '../ledger/b.js',
      '../scripts/c.js',
      '../api/d.js',
      'kafkajs',
    ]);
  });
});
