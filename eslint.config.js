// ESLint flat config. Deliberately small: correctness rules (eslint's recommended set, the
// promise rules that need type information) plus the few conventions the code already
// follows. No stylistic preset: formatting and naming are not linted.
//
// Type information comes from tsconfig.json through typescript-eslint's project service.
// The JavaScript files outside tsconfig.json (scripts/*.mjs and the root config files) are
// typed through the service's default project, which reuses tsconfig.json's options.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

const TS_FILES = [
  "src/**/*.ts",
  "test/**/*.ts",
  "bench/**/*.ts",
  "clients/typescript/src/**/*.ts",
  "examples/typescript/**/*.ts",
  "vitest.config.ts",
  "ui/src/**/*.{ts,tsx}",
];
const JS_FILES = ["scripts/**/*.{js,mjs,cjs}", "eslint.config.js", ".dependency-cruiser.cjs"];

export default defineConfig([
  // Generated code (buf generate), build output, dependencies and vendored protos.
  globalIgnores(["**/gen/", "**/dist/", "node_modules/", "third_party/", "coverage/", "data/"]),

  {
    name: "actionqueue/all",
    files: [...TS_FILES, ...JS_FILES],
    extends: [js.configs.recommended],
    plugins: { "@typescript-eslint": tseslint.plugin },
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.node },
      parser: tseslint.parser,
      parserOptions: {
        projectService: {
          allowDefaultProject: ["scripts/*.mjs", "eslint.config.js", ".dependency-cruiser.cjs"],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // A promise is awaited, returned, or explicitly discarded with `void`.
      "@typescript-eslint/no-floating-promises": "error",
      // No promise where a boolean or a void-returning callback is expected.
      "@typescript-eslint/no-misused-promises": "error",
      // `await` only on thenables.
      "@typescript-eslint/await-thenable": "error",

      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          args: "after-used",
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          caughtErrorsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
          ignoreRestSiblings: true,
        },
      ],
    },
  },

  {
    name: "actionqueue/typescript",
    files: TS_FILES,
    // Turns off the core rules that the TypeScript compiler already checks (no-undef, ...).
    extends: [tseslint.configs.eslintRecommended],
    rules: {
      // `import type { A }` when every name is a type, `import { type A, b }` when mixed.
      "@typescript-eslint/consistent-type-imports": [
        "error",
        { prefer: "type-imports", fixStyle: "inline-type-imports", disallowTypeAnnotations: true },
      ],
    },
  },

  {
    // The dashboard runs in a browser (typed by ui/tsconfig.json).
    name: "actionqueue/ui",
    files: ["ui/src/**/*.{ts,tsx}"],
    languageOptions: { globals: { ...globals.browser } },
  },

  {
    name: "actionqueue/commonjs",
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
  },
]);
