// ESLint: typescript-eslint's type-checked rules plus the import rules that
// keep the architecture (README "Architecture"): transport calls use cases,
// use cases call ports, adapters implement ports, workflows stay deterministic.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const capabilities = ["events", "holds", "orders", "payments", "queue", "signing", "tickets"];

export default tseslint.config(
  {
    ignores: [
      "src/gen/**",
      "**/dist/**",
      "clients/typescript/src/gen/**",
      "node_modules/**",
      ".tools/**",
      ".local/**",
      "bench/out/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Async functions that do not await are how we satisfy Promise-returning ports.
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    // Tests and benchmarks pass generated client methods around and read JSON
    // (ghz reports, Prometheus text); the product code keeps these rules.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/unbound-method": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-enum-comparison": "off",
      "@typescript-eslint/no-explicit-any": "off",
      "no-useless-assignment": "off",
    },
  },
  {
    // Workflow code is replayed: no Node built-ins, and only type imports from the rest of the code.
    files: ["workflows/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [{ group: ["node:*"], message: "workflow code must be deterministic: no Node built-ins" }],
        },
      ],
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["../src/**"],
              allowTypeImports: true,
              message: "workflows import only types from src/ (activities run in the worker, not in the sandbox)",
            },
          ],
        },
      ],
    },
  },
  {
    // Use cases never depend on the transport.
    files: capabilities.map((c) => `src/${c}/**/*.ts`),
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/grpc/**"], message: "use cases must not import the transport (src/grpc)" }] },
      ],
    },
  },
  {
    // Adapters implement ports; they import no capability.
    files: ["src/adapters/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: [...capabilities.map((c) => `**/${c}/**`), "**/grpc/**"],
              message: "adapters must not import capabilities or the transport",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
