// ESLint flat config: @eslint/js recommended + typescript-eslint's type-checked recommended rules over every TypeScript source.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['node_modules/**', 'cdk.out/**', 'coverage/**', '.local/**', '.bench/**'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    files: ['{shared,functions,infra,cli,test,bench,examples,scripts}/**/*.ts', 'vitest.config.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Options, not exemptions:
      // `const { dropped: _d, ...rest } = record` is how the code omits keys from a copy; the named siblings are unused on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A `let` read by a closure before its single assignment (e.g. a timer cleared by a callback that can run first) cannot
      // become a `const` declared at the assignment: the closure would hit the temporal dead zone.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Configuration is read in one place: the engine gets values from its composition root (docs/architecture.md, "Layers").
    files: ['shared/**/*.ts'],
    ignores: ['shared/config/**', 'shared/local/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'read configuration in shared/config/ and pass it down from the composition root' }],
    },
  },
  {
    // The CLI launcher and this config are plain ESM JavaScript run by Node: linted without type information.
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly' },
    },
  },
);
