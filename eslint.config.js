import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tmp/**', 'web/dist/**', 'web/src/generated/**', 'provisioning/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The product reads storage through named queries (core/query.ts), whose parameters and rows
    // are checked; only the store, its lanes and the query runner call the raw methods. Tests and
    // benchmarks may ask storage anything.
    ignores: ['core/clickhouse.ts', 'core/lanes.ts', 'core/query.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(queryRows|queryTsv|queryJsonLines)$/]",
          message: 'Read storage through a named query: read(store, query, params) from core/query.ts.',
        },
      ],
    },
  },
);
