// Lint for src, test, bench and scripts: ESLint's and typescript-eslint's recommended rules without the
// type-aware ones (those need a whole type check per run, which `npm run typecheck` already does).
// Rules switched off say why; everything else is an error and fails `npm test`.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', 'test-output/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    // A stale disable comment is an error too, so none outlives the code it excused.
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // The listener, share normaliser and gate match control characters on purpose: refusing them is the point.
      'no-control-regex': 'off',
      // Comma sequences such as `if (stale) (cache.clear(), (seen = now))` are a deliberate compact idiom here.
      '@typescript-eslint/no-unused-expressions': 'off',
      // `_` marks a parameter or destructured key that is dropped on purpose (`{ date: _, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  // The sample share page's script runs in the browser.
  { files: ['src/demo/share-web/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
);
