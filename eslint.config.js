// Lint: TypeScript rules plus the layer boundaries of DESIGN.md (shared imports neither side; server and client never import each other).
import tseslint from 'typescript-eslint';

const layer = (from, forbidden) => ({
  files: [`${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((dir) => ({
          group: [`**/${dir}`, `**/${dir}/**`, `${dir}/**`],
          message: `${from}/ must not import ${dir}/ (see DESIGN.md: layout and dependencies)`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'test-output/**', 'bench/results/**', 'server/public/vendor/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  layer('shared', ['server', 'client', 'test', 'bench']),
  layer('server', ['client']),
  layer('client', ['server']),
);
