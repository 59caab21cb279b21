/**
 * Every relative link in README.md and docs/*.md resolves: `[text](path)` names a file or
 * directory that exists, and `[text](path#anchor)` (or `(#anchor)`) a heading of the target
 * with that GitHub-style slug. Links inside code (fenced blocks, `inline code`) are not links.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** README.md and every Markdown file in docs/. */
function documents(): string[] {
  const docsDir = join(root, "docs");
  const docs = existsSync(docsDir)
    ? readdirSync(docsDir).filter((name) => name.endsWith(".md")).map((name) => join(docsDir, name))
    : [];
  return [join(root, "README.md"), ...docs.sort()];
}

/** The text outside fenced code blocks and inline code spans, line numbers kept. */
function proseOf(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const marker = line.match(/^\s*(`{3,}|~{3,})/)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      lines.push("");
      continue;
    }
    if (marker) {
      fence = marker;
      lines.push("");
      continue;
    }
    lines.push(line.replace(/(`+)[^`]*?\1/g, ""));
  }
  return lines;
}

/** GitHub's anchor for a heading's text: its rendered text, lower-cased, punctuation dropped. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/`([^`]*)`/g, "$1") // code spans: their content
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/(\*\*|__|\*)(.+?)\1/g, "$2") // bold, italics
    .replace(/(^|\s)_(.+?)_(?=\s|$)/g, "$1$2"); // _italics_
  return text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings, with GitHub's `-1`, `-2` for repeated ones. */
function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseOfHeadings(readFileSync(path, "utf8"))) {
    const base = slug(line);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** ATX headings outside fenced code (their text, without the `#`s). */
function proseOfHeadings(markdown: string): string[] {
  const headings: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const marker = line.match(/^\s*(`{3,}|~{3,})/)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    const heading = line.match(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
    if (heading) headings.push(heading[1]);
  }
  return headings;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images `[text](target "title")`, and reference definitions `[ref]: target`. */
function linksOf(path: string): Link[] {
  const links: Link[] = [];
  proseOf(readFileSync(path, "utf8")).forEach((text, index) => {
    const add = (raw: string) => {
      const target = raw.trim().replace(/^<(.*)>$/, "$1");
      links.push({ file: path, line: index + 1, target });
    };
    for (const match of text.matchAll(/\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) {
      add(match[1]);
    }
    const definition = text.match(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/);
    if (definition) add(definition[1]);
  });
  return links;
}

/** Whether `target` leaves the repository's files (a URL with a scheme, or mail). */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");
}

/** What is wrong with one relative link, or `undefined` when it resolves. */
function problem(link: Link): string | undefined {
  const hash = link.target.indexOf("#");
  const pathPart = hash >= 0 ? link.target.slice(0, hash) : link.target;
  const anchor = hash >= 0 ? decodeURIComponent(link.target.slice(hash + 1)) : undefined;
  const target = pathPart === ""
    ? link.file
    : resolve(dirname(link.file), decodeURIComponent(pathPart.split("?")[0]));
  if (target !== root && !target.startsWith(root + "/")) {
    return `${pathPart} points outside the repository`;
  }
  if (!existsSync(target)) return `${relative(root, target)} does not exist`;
  if (anchor === undefined || anchor === "") return undefined;
  if (!statSync(target).isFile() || !target.endsWith(".md")) {
    return `#${anchor}: ${relative(root, target)} is not a Markdown file with headings`;
  }
  if (!anchorsOf(target).has(anchor)) {
    return `${relative(root, target)} has no heading with the anchor #${anchor}`;
  }
  return undefined;
}

Deno.test("the slug of a heading is GitHub's anchor", () => {
  assert.equal(slug("Isolation and threat model"), "isolation-and-threat-model");
  assert.equal(slug("Projects — one per customer"), "projects--one-per-customer");
  assert.equal(slug("Point it at `Deno Deploy`"), "point-it-at-deno-deploy");
  assert.equal(slug("_The seccomp filter_ (v2)"), "the-seccomp-filter-v2");
  assert.equal(slug("bench/proxy_cost.ts"), "benchproxy_costts");
});

Deno.test("README.md and docs/*.md link only to files and headings that exist", () => {
  const files = documents();
  assert.ok(files.length > 1, "expected README.md and at least one page in docs/");
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const link of linksOf(file)) {
      if (isExternal(link.target)) continue;
      checked++;
      const why = problem(link);
      if (why) broken.push(`${relative(root, link.file)}:${link.line}: (${link.target}) ${why}`);
    }
  }
  assert.ok(checked > 0, "expected relative links to check");
  assert.deepEqual(broken, [], `broken links:\n${broken.join("\n")}`);
});

Deno.test("README.md links to every page in docs/", () => {
  const linked = new Set(
    linksOf(join(root, "README.md"))
      .map((link) => link.target.split("#")[0])
      .filter((target) => target.startsWith("docs/")),
  );
  for (const file of documents().slice(1)) {
    const page = relative(root, file);
    assert.ok(linked.has(page), `README.md does not link to ${page}`);
  }
});
