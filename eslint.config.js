import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const IO = ['node:*', 'fs', 'path', 'child_process', 'os'];
/** Outside Temporal code, the rules live in search/: only the workflow's messages and type are imported. */
const NOT_WORKFLOWS = {
  group: ['**/workflows/*', '!**/workflows/messages*', '!**/workflows/search*'],
  allowTypeImports: true,
  message: 'the search rules live in search/; import only workflows/messages and the workflow type',
};
const NOT_ACTIVITIES = { group: ['**/activities/*', '**/executors/*'], message: 'read the store, not activities' };

/** What each folder may not import, and why: scaling/ and search/ are pure; workflows/ is Temporal code. */
const FORBIDDEN_IMPORTS = {
  scaling: [{ group: [...IO, '../*/**'], message: 'scaling/ is pure and imports nothing outside itself' }],
  search: [
    {
      group: [...IO, '@temporalio/*', '../*', '!../scaling', '!../schemas'],
      message: 'search/ holds the pure rules of the search: it imports only scaling/ and schemas/',
    },
  ],
  workflows: [
    { group: IO, message: 'workflows must stay deterministic' },
    {
      group: ['../activities/*'],
      allowTypeImports: true,
      message: 'workflows call activities through proxyActivities: import their types only',
    },
    {
      group: ['../trainer/*', '../registry/*', '../store/*', '../executors/*', '../client/*', '../report/*'],
      message: 'workflows import only scaling/, schemas/, search/ and activity types',
    },
  ],
  activities: [NOT_WORKFLOWS],
  executors: [
    { group: ['**/workflows/*', '**/activities/*'], message: 'executors launch trainings; the activity calls them' },
    { group: ['@temporalio/*'], message: 'executors throw TrainingFailure; the activity makes it a Temporal failure' },
  ],
  store: [NOT_WORKFLOWS, NOT_ACTIVITIES],
  report: [NOT_WORKFLOWS, NOT_ACTIVITIES],
  trainer: [
    {
      group: ['**/activities/*', '**/workflows/*', '**/executors/*', '**/store/*', '**/client/*', '**/report/*'],
      message: 'the trainer runs alone in a process or pod: it imports only scaling/, schemas/ and search/',
    },
  ],
  client: [NOT_WORKFLOWS],
  cli: [NOT_WORKFLOWS],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/', '.effscale/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
      // Type information for the rules that need it: a promise nobody awaits is a lost write or error.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: ['**/dist/**'] }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test collects its tests itself; their promises are not ours to await.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  // Plain JavaScript (this file, bin/) has no types to check against.
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  // Layers (README's layout table): one rule set per folder, so the config says what a folder may import.
  ...Object.entries(FORBIDDEN_IMPORTS).map(([folder, patterns]) => ({
    files: [`${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/dist/**'] }, ...patterns] }] },
  })),
);
