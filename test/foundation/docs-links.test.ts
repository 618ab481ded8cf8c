// No link in the documentation leaves the repository: every Markdown link in
// README.md, docs/ and bench/*.md is relative and names a file (or folder)
// that a fresh clone has. Files git ignores (raw bench output) do not count,
// since a clone does not have them.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/devstack/stack.js";

/** Link targets of a Markdown text: inline links and images, and reference definitions; code is skipped. */
function markdownLinks(markdown: string): string[] {
  const text = markdown
    .replace(/^ {0,3}(```|~~~)[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, "") // fenced code blocks
    .replace(/`[^`\n]*`/g, "code"); // code spans (link text often is one)
  const links: string[] = [];
  // [text](target "title") with text possibly over several lines; <target> allowed.
  for (const m of text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) {
    links.push(m[1]!.replace(/^<|>$/g, ""));
  }
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/gm)) links.push(m[1]!);
  return links;
}

/** Why a link from `fromFile` does not stay inside the repository, or undefined when it does. */
function linkProblem(fromFile: string, target: string, present: Set<string>): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return "leaves the repository";
  const bare = decodeURI(target.replace(/[#?].*$/, ""));
  if (bare === "") return undefined; // an anchor in the same file
  if (bare.startsWith("/")) return "is absolute";
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), bare)).replace(/\/$/, "");
  if (resolved === ".." || resolved.startsWith("../")) return "leaves the repository";
  if (present.has(resolved)) return undefined;
  const asFolder = `${resolved}/`;
  for (const f of present) if (f.startsWith(asFolder)) return undefined;
  return "names no file in the repository";
}

/** Files a clone has: tracked, plus new files not ignored (so a doc being written counts). */
function repoFiles(): Set<string> {
  const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Set(
    out
      .split("\0")
      .filter(Boolean)
      .filter((f) => fs.existsSync(path.join(repoRoot, f))),
  );
}

describe("documentation links", () => {
  it("finds links in prose and skips code", () => {
    const md = [
      "See [the `design`\ndocument](docs/DESIGN.md) and ![chart](a/b.svg).",
      "```sh",
      "echo [not](a-link.md)",
      "```",
      'Inline `[nor](this.md)`, [x](<with space.md>), [y](https://example.com "t").',
      "[ref]: ../outside.md",
    ].join("\n");
    expect(markdownLinks(md)).toEqual([
      "docs/DESIGN.md",
      "a/b.svg",
      "with space.md",
      "https://example.com",
      "../outside.md",
    ]);
  });

  it("tells a dead or outside link from a good one", () => {
    const present = new Set(["docs/DESIGN.md", "bench/results/holds-1.md"]);
    expect(linkProblem("README.md", "docs/DESIGN.md#invariants", present)).toBeUndefined();
    expect(linkProblem("bench/RESULTS.md", "results/", present)).toBeUndefined();
    expect(linkProblem("bench/RESULTS.md", "../docs/DESIGN.md", present)).toBeUndefined();
    expect(linkProblem("bench/RESULTS.md", "../../shared/BENCHMARKING.md", present)).toBe("leaves the repository");
    expect(linkProblem("README.md", "https://go.dev/dl", present)).toBe("leaves the repository");
    expect(linkProblem("bench/RESULTS.md", "results/holds-1.html", present)).toBe("names no file in the repository");
    expect(linkProblem("README.md", "#quick-start", present)).toBeUndefined();
  });

  it("every link in README.md, docs/ and bench/*.md resolves to a file in the repository", () => {
    const files = repoFiles();
    const docs = [...files].filter(
      (f) => f === "README.md" || /^docs\/.*\.md$/.test(f) || /^bench\/[^/]+\.md$/.test(f),
    );
    expect(docs).toContain("README.md");
    expect(docs).toContain("docs/DESIGN.md");
    expect(docs).toContain("docs/BENCHMARKING.md");
    const problems: string[] = [];
    let checked = 0;
    for (const doc of docs) {
      for (const target of markdownLinks(fs.readFileSync(path.join(repoRoot, doc), "utf8"))) {
        checked++;
        const problem = linkProblem(doc, target, files);
        if (problem) problems.push(`${doc}: ${target} ${problem}`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });
});
