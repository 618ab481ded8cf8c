// Every RPC's comment in proto/ lists the error reasons it can really return.
// The reasons are collected statically: from each handler in
// src/grpc/services/, every function and method it can reach (resolved by the
// TypeScript checker, through interfaces to the classes that implement them)
// is searched for `new AppError("<REASON>"...)`. Reasons common to every RPC
// (proto/ticketing/v1/common.proto) are left out on both sides.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { Reasons } from "../../src/domain/errors.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SERVICES_DIR = path.join(ROOT, "src/grpc/services");
const PROTO_DIR = path.join(ROOT, "proto/ticketing/v1");

/** Listed once in common.proto for every RPC (or raised by the transport itself). */
const COMMON = new Set([
  "VALIDATION_FAILED",
  "DEPENDENCY_UNAVAILABLE",
  "NOT_IMPLEMENTED",
  "INTERNAL",
  "DEADLINE_EXCEEDED",
  "CANCELLED",
  ...(readFileSync(path.join(PROTO_DIR, "common.proto"), "utf8").match(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g) ?? []),
]);
const REASONS = new Set(Object.keys(Reasons));

/**
 * Reasons the collector finds on a path that cannot answer them, each checked
 * by hand. Keep this short: a reason listed here is one the static walk
 * cannot rule out by itself.
 */
const NEVER_ANSWERED: Record<string, string[]> = {
  // The hold is read back right after the script created it (HOLD_NOT_FOUND);
  // the general-admission replies of the shared reply handling never come
  // from hold_best_available.lua.
  HoldSeats: ["HOLD_NOT_FOUND"],
  HoldBestAvailable: ["HOLD_NOT_FOUND", "INSUFFICIENT_CAPACITY", "SECTION_NOT_FOUND"],
};

/** RPC name -> reasons its proto comment lists (common ones left out). */
function documentedReasons(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const file of readdirSync(PROTO_DIR).filter((f) => f.endsWith("_service.proto"))) {
    const lines = readFileSync(path.join(PROTO_DIR, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      const rpc = /^\s*rpc (\w+)\(/.exec(line);
      if (!rpc) return;
      const comment: string[] = [];
      for (let j = i - 1; j >= 0 && /^\s*\/\//.test(lines[j]!); j--) comment.unshift(lines[j]!);
      // Only what follows "Errors:" (the text before may name reasons other RPCs answer).
      const errors =
        comment
          .join(" ")
          .replace(/\s*\/\/\s*/g, " ")
          .split("Errors:")[1] ?? "";
      const words = errors.match(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g) ?? [];
      out.set(rpc[1]!, new Set(words.filter((w) => REASONS.has(w) && !COMMON.has(w))));
    });
  }
  return out;
}

/** RPC name -> reasons its handler can throw (common ones left out). */
function reachableReasons(): Map<string, Set<string>> {
  const serviceFiles = readdirSync(SERVICES_DIR)
    .filter((f) => f.endsWith("-service.ts"))
    .map((f) => path.join(SERVICES_DIR, f));
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => undefined,
    },
  )!;
  const program = ts.createProgram(serviceFiles, config.options);
  const checker = program.getTypeChecker();
  const inSrc = (sf: ts.SourceFile) =>
    sf.fileName.startsWith(path.join(ROOT, "src/")) && !sf.fileName.startsWith(path.join(ROOT, "src/gen/"));

  // Interface name -> classes in src that implement it.
  const implementers = new Map<string, ts.ClassDeclaration[]>();
  for (const sf of program.getSourceFiles().filter(inSrc)) {
    ts.forEachChild(sf, function visit(node) {
      if (ts.isClassDeclaration(node)) {
        for (const clause of node.heritageClauses ?? []) {
          for (const t of clause.types) {
            const name = t.expression.getText(sf);
            implementers.set(name, [...(implementers.get(name) ?? []), node]);
          }
        }
      }
      ts.forEachChild(node, visit);
    });
  }

  const memo = new Map<ts.Node, Set<string>>();
  function bodiesOf(decl: ts.Declaration): ts.Node[] {
    if (!inSrc(decl.getSourceFile())) return [];
    if (
      (ts.isFunctionDeclaration(decl) ||
        ts.isMethodDeclaration(decl) ||
        ts.isConstructorDeclaration(decl) ||
        ts.isGetAccessorDeclaration(decl)) &&
      decl.body
    )
      return [decl.body];
    if ((ts.isVariableDeclaration(decl) || ts.isPropertyDeclaration(decl)) && decl.initializer)
      return [decl.initializer];
    // A property set in the constructor (`this.missingInventory = deps.missingInventory ?? (async ...)`).
    if (ts.isPropertyDeclaration(decl) && ts.isClassDeclaration(decl.parent)) {
      const name = decl.name.getText();
      const ctor = decl.parent.members.find(ts.isConstructorDeclaration);
      const values: ts.Node[] = [];
      ctor?.body?.forEachChild(function find(n) {
        if (
          ts.isBinaryExpression(n) &&
          n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
          n.left.getText() === `this.${name}`
        )
          values.push(n.right);
        n.forEachChild(find);
      });
      return values;
    }
    if (ts.isPropertyAssignment(decl)) return [decl.initializer];
    // A constructor parameter's default (e.g. a callback the class falls back on).
    if (ts.isParameter(decl) && decl.initializer) return [decl.initializer];
    if (ts.isClassDeclaration(decl)) {
      const ctor = decl.members.find(ts.isConstructorDeclaration);
      return ctor?.body ? [ctor.body] : [];
    }
    if (ts.isMethodSignature(decl) && ts.isInterfaceDeclaration(decl.parent)) {
      // An interface method: whatever its implementations do.
      const name = decl.name.getText();
      return (implementers.get(decl.parent.name.text) ?? []).flatMap((c) =>
        c.members.filter((m) => ts.isMethodDeclaration(m) && m.name.getText() === name && m.body).map((m) => m),
      );
    }
    return [];
  }

  function literalReasons(expr: ts.Node): string[] {
    const out: string[] = [];
    const seen = new Set<ts.Node>();
    // Through the constants it reads, and theirs (`REFUSAL_REASONS.find(...)` in a variable's initializer).
    const visit = (n: ts.Node): void => {
      if (ts.isStringLiteral(n) && REASONS.has(n.text)) out.push(n.text);
      if (ts.isIdentifier(n)) {
        for (const d of checker.getSymbolAtLocation(n)?.declarations ?? []) {
          if (ts.isVariableDeclaration(d) && d.initializer && inSrc(d.getSourceFile()) && !seen.has(d)) {
            seen.add(d);
            visit(d.initializer);
          }
        }
      }
      n.forEachChild(visit);
    };
    visit(expr);
    return out;
  }

  /** refusalError's switch: refusal code -> the reasons its case creates. */
  const refusalCases = new Map<string, string[]>();
  for (const sf of program.getSourceFiles().filter((f) => f.fileName.endsWith("src/adapters/redis/script-errors.ts"))) {
    sf.forEachChild(function find(n) {
      if (ts.isCaseClause(n) && ts.isStringLiteral(n.expression)) {
        refusalCases.set(n.expression.text, literalReasons(n));
      }
      n.forEachChild(find);
    });
  }
  function refusalReasons(arg: ts.Expression): string[] {
    const type = checker.getTypeAtLocation(arg);
    const members = type.isUnion() ? type.types : [type];
    const out: string[] = [];
    for (const member of members) {
      const code = member.getProperty("code");
      const codeType = code && checker.getTypeOfSymbolAtLocation(code, arg);
      for (const t of codeType ? (codeType.isUnion() ? codeType.types : [codeType]) : []) {
        if (t.isStringLiteral()) out.push(...(refusalCases.get(t.value) ?? []));
      }
    }
    return out;
  }

  function reasonsIn(node: ts.Node): Set<string> {
    const cached = memo.get(node);
    if (cached) return cached;
    const found = new Set<string>();
    memo.set(node, found); // cycles end here
    const visit = (n: ts.Node): void => {
      if (ts.isNewExpression(n) && n.expression.getText() === "AppError") {
        const first = n.arguments?.[0];
        if (first && ts.isStringLiteral(first)) found.add(first.text);
        // A computed reason (`SALE_REASONS[state] ?? "SALE_NOT_OPEN"`): the reasons
        // written in it and in the constants it reads. A bare parameter is
        // resolved at the call sites instead (below).
        else if (first) for (const r of literalReasons(first)) found.add(r);
      }
      // A script's refusal (src/adapters/redis/script-errors.ts): only the cases of
      // the codes the argument's type allows at this call (narrowed by the script's reply type).
      if (ts.isCallExpression(n) && n.expression.getText() === "refusalError" && n.arguments[0]) {
        for (const r of refusalReasons(n.arguments[0])) found.add(r);
        for (const arg of n.arguments.slice(1)) visit(arg);
        return;
      }
      if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
        // A reason handed to a helper that throws it (`saleError("SALE_CLOSED", ...)`).
        for (const arg of n.arguments ?? []) if (ts.isStringLiteral(arg) && REASONS.has(arg.text)) found.add(arg.text);
        let symbol = checker.getSymbolAtLocation(
          ts.isPropertyAccessExpression(n.expression) ? n.expression.name : n.expression,
        );
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
        for (const decl of symbol?.declarations ?? []) {
          for (const body of bodiesOf(decl)) for (const r of reasonsIn(body)) found.add(r);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return found;
  }

  const out = new Map<string, Set<string>>();
  for (const file of serviceFiles) {
    const sf = program.getSourceFile(file)!;
    // Reasons the service's handlers catch and answer as another (`err.reason === "HOLD_NOT_OWNED" ? holdNotFound(...)`).
    const translated = new Set([...sf.text.matchAll(/err\.reason === "([A-Z_]+)"/g)].map((m) => m[1]!));
    ts.forEachChild(sf, function visit(node) {
      // The object literal of handlers a `*Handlers` function returns: one method per RPC.
      if (ts.isFunctionDeclaration(node) && node.name?.text.endsWith("Handlers") && node.body) {
        node.body.forEachChild(function find(n) {
          if (ts.isReturnStatement(n) && n.expression && ts.isObjectLiteralExpression(n.expression)) {
            for (const member of n.expression.properties) {
              if (!ts.isMethodDeclaration(member) || !member.body) continue;
              const rpc = member.name.getText(sf).replace(/^./, (c) => c.toUpperCase());
              const never = NEVER_ANSWERED[rpc] ?? [];
              out.set(
                rpc,
                new Set(
                  [...reasonsIn(member.body)].filter((r) => !COMMON.has(r) && !never.includes(r) && !translated.has(r)),
                ),
              );
            }
          }
          ts.forEachChild(n, find);
        });
      }
      ts.forEachChild(node, visit);
    });
  }
  return out;
}

describe("error reasons in the proto comments", () => {
  it("list, for every RPC, exactly the reasons its handler can return", { timeout: 120_000 }, () => {
    const documented = documentedReasons();
    const reachable = reachableReasons();
    expect(reachable.size).toBeGreaterThan(20);
    const diffs: string[] = [];
    for (const [rpc, reasons] of reachable) {
      const listed = documented.get(rpc);
      if (!listed) {
        diffs.push(`${rpc}: handler without an rpc in proto/`);
        continue;
      }
      const missing = [...reasons].filter((r) => !listed.has(r)).sort();
      const extra = [...listed].filter((r) => !reasons.has(r)).sort();
      if (missing.length > 0) diffs.push(`${rpc}: comment misses ${missing.join(", ")}`);
      if (extra.length > 0) diffs.push(`${rpc}: comment lists ${extra.join(", ")}, which it never returns`);
    }
    expect(diffs).toEqual([]);
    // The collector sees the reasons the fixes below rely on.
    expect(reachable.get("CreateOrder")).toContain("IDEMPOTENCY_KEY_REUSED");
  });
});
