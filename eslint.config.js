// Lint: @eslint/js and typescript-eslint recommended rules, plus the project's own bans.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'src/gen/', 'node_modules/', 'var/', 'scratch/', 'benchmarks/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Focused or skipped tests hide what is not done: they never land.
      'no-restricted-properties': [
        'error',
        ...['only', 'skip', 'todo', 'failing'].map((property) => ({
          object: 'test',
          property,
          message: `test.${property} must not be committed`,
        })),
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // k6 scripts run in k6's JavaScript runtime, which provides these globals.
    files: ['benchmarks/k6/*.js'],
    languageOptions: { globals: { __ENV: 'readonly', __ITER: 'readonly', __VU: 'readonly' } },
  },
  {
    files: ['benchmarks/**/*.ts', 'scripts/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
);
