// Lint: TypeScript rules plus the layer boundaries of DESIGN.md (shared imports neither side; server and client never
// import each other) and the one home of crypto (only shared/crypto.ts imports a crypto library).
import tseslint from 'typescript-eslint';

const cryptoLibraries = {
  group: ['libsodium-wrappers', 'libsodium-wrappers-sumo', '@noble/*', '@noble/**'],
  message: 'only shared/crypto.ts imports crypto libraries (STYLE.md): add what you need there',
};

const layer = (from, forbidden, { crypto = false } = {}) => ({
  files: [`${from}/**/*.ts`],
  ...(crypto ? {} : { ignores: ['shared/crypto.ts'] }),
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...forbidden.map((dir) => ({
            group: [`**/${dir}`, `**/${dir}/**`, `${dir}/**`],
            message: `${from}/ must not import ${dir}/ (see DESIGN.md: layout and dependencies)`,
          })),
          ...(crypto ? [] : [cryptoLibraries]),
        ],
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
  { ...layer('shared', ['server', 'client', 'test', 'bench'], { crypto: true }), files: ['shared/crypto.ts'] },
  layer('server', ['client']),
  layer('client', ['server']),
  layer('test', []),
  layer('bench', []),
);
