/**
 * The directory packer: turns a directory into the `assets` of a deployment.
 *
 * {@link pack} walks the tree (honouring `.gitignore`, `include` and `exclude`), hashes
 * every file as it streams it from disk and records metadata only. {@link deploymentBody}
 * then streams the JSON body of `POST /projects/{id}/deployments`, reading each file again
 * while the body is pulled, so memory stays flat however large the tree is.
 *
 * @example
 * ```ts
 * const packed = await pack({ root: "./hooks" });
 * const body = deploymentBody({ entryPointUrl: packed.entrypoint, envVars: {} }, packed);
 * await fetch(url, { method: "POST", body, headers });
 * ```
 *
 * @module
 */
import ignore, { type Ignore } from "ignore";
import { isUtf8 } from "node:buffer";
import { isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import { DeployTenantError, ExitCode } from "./errors.ts";
import { GitSha1 } from "./git_sha1.ts";
import { Base64Encoder, ChunkBatcher, JsonTextEncoder } from "./stream_json.ts";
import type { CreateDeploymentRequest, Encoding } from "./types.ts";
import type { DeployRequest } from "./v2/types.ts";

/** What to pack and how. */
export interface PackOptions {
  /** The directory to deploy. */
  root: string;
  /**
   * Gitignore-style globs; when given, only matching files are packed. `.git` and
   * `node_modules` are packed only when a pattern names them.
   */
  include?: string[];
  /** Gitignore-style globs to leave out; they win over everything else. */
  exclude?: string[];
  /** Honour `.gitignore` files, the root's and nested ones (default `true`). */
  gitignore?: boolean;
  /** The entry point, a path relative to `root`; it must be packed. */
  entrypoint?: string;
  /** Largest total file size allowed (default 1 GiB, Deploy's per-deployment limit). */
  maxTotalBytes?: number;
  /** Most assets (files and symlinks) allowed (default {@link MAX_ASSETS}, the host's limit). */
  maxAssets?: number;
  /** Called after each file is hashed, with running totals. */
  onProgress?: (progress: { files: number; bytes: number }) => void;
}

/** A regular file: metadata only, its content stays on disk. */
export interface PackedFile {
  /** Discriminates a file from a symlink. */
  kind: "file";
  /** POSIX path relative to the root, e.g. `src/a.ts`. */
  path: string;
  /** Where to read it from. */
  absPath: string;
  /** Size in bytes. */
  size: number;
  /** Git blob SHA-1 of the content. */
  gitSha1: string;
  /** `utf-8` when the whole file is valid UTF-8 with no NUL in its first 8000 bytes, else `base64`. */
  encoding: Encoding;
  /**
   * The file's stamp when it was hashed: the body checks it against the file it reads instead
   * of hashing it again. Left out when the file changed too recently for its time to tell a
   * later same-size edit apart (see {@link RACY_MS}): the body then hashes the file again.
   */
  stamp?: FileStamp;
}

/** What tells a later edit of a file apart without hashing it again. */
export interface FileStamp {
  /** Modification time, ms. */
  mtime: number;
  /** Inode number: a file replaced by another (a rename over it) has a new one. */
  inode: number | null;
}

/**
 * A file modified less than this long before it was hashed is "racily clean" (git's term): a
 * same-size edit within the filesystem's timestamp granularity (a kernel tick on ext4, 1–2 s
 * on some filesystems) would leave its modification time unchanged, so only its hash can tell.
 */
export const RACY_MS = 3_000;

/** A symlink to another path inside the root. */
export interface PackedSymlink {
  /** Discriminates a symlink from a file. */
  kind: "symlink";
  /** POSIX path of the link relative to the root. */
  path: string;
  /** POSIX path of what it resolves to, relative to the root. */
  target: string;
}

/** One packed path. */
export type PackedEntry = PackedFile | PackedSymlink;

/** A packed directory, ready to be sent with {@link deploymentBody}. */
export interface Pack {
  /** The absolute path of the packed directory. */
  root: string;
  /** Files and symlinks, sorted by path. */
  entries: PackedEntry[];
  /** The entry point path. */
  entrypoint: string;
  /** Sum of the file sizes. */
  totalBytes: number;
  /** Things the user should know, e.g. `.env` files being uploaded. */
  warnings: string[];
}

/** The most assets a deployment may have (the local host refuses more). */
export const MAX_ASSETS = 100_000;

/** Deploy's per-deployment size limit, the default of {@link PackOptions.maxTotalBytes}. */
export const DEFAULT_MAX_TOTAL_BYTES = 1024 ** 3;

/** Entry points tried in order when none is given. */
export const ENTRYPOINT_CANDIDATES: readonly string[] = [
  "main.ts",
  "main.tsx",
  "main.js",
  "mod.ts",
  "src/main.ts",
  "index.ts",
  "index.js",
];

/** Directories skipped unless an `include` pattern names them. */
const SKIPPED_DIRECTORIES = [".git", "node_modules"];

/** `pack` lets the event loop run after reading about this much. */
const YIELD_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * Walks `options.root` and returns what to deploy: every file's path, size, git blob SHA-1
 * and encoding, every symlink's target, and the entry point.
 *
 * Throws a {@link DeployTenantError} for a missing, non-directory or empty root, an
 * unreadable path, a symlink that escapes the root, dangles or loops, a missing entry
 * point, and more than `maxAssets` assets or a total over `maxTotalBytes` (both checked before
 * any file is read).
 */
export async function pack(options: PackOptions): Promise<Pack> {
  const root = resolve(options.root);
  await assertDirectory(root);
  const maxTotalBytes = options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;

  const walked = await walk(root, new PathFilter(options));
  if (walked.files.length === 0) throw emptyDirectory(root, walked.skipped);
  // Both limits before any file is read: a tree over them would be hashed for nothing.
  const assets = walked.files.length + walked.symlinks.length;
  const maxAssets = options.maxAssets ?? MAX_ASSETS;
  if (assets > maxAssets) {
    throw new DeployTenantError(
      "tooManyAssets",
      `The tree has ${assets} files and symlinks to deploy, over the limit of ${maxAssets}.`,
      { hint: "Leave out what the deployment does not need with --exclude or .gitignore." },
    );
  }
  assertWithinLimit(sum(walked.files.map((file) => file.size)), maxTotalBytes);

  const entries: PackedEntry[] = [...walked.symlinks];
  let totalBytes = 0;
  let sinceYield = 0;
  for (const [index, file] of walked.files.entries()) {
    const packed = inspectFile(file.absPath, file.path);
    entries.push(packed);
    totalBytes += packed.size;
    options.onProgress?.({ files: index + 1, bytes: totalBytes });
    // Reading is synchronous: let timers (a progress display) run now and then.
    sinceYield += packed.size;
    if (sinceYield >= YIELD_EVERY_BYTES) {
      sinceYield = 0;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  // Files can grow between the walk and the read.
  assertWithinLimit(totalBytes, maxTotalBytes);
  entries.sort((a, b) => compare(a.path, b.path));

  const explicit = options.entrypoint !== undefined && isAbsolute(options.entrypoint)
    ? relative(root, options.entrypoint)
    : options.entrypoint;
  const paths = entries.map((entry) => entry.path);
  const entrypoint = explicit === undefined
    ? await detectEntrypointOrSayWhy(root, paths)
    : detectEntrypoint(paths, explicit);
  const warnings = [...walked.warnings, ...envFileWarnings(entries)];
  warnings.push(...danglingTargetWarnings(entries));
  return { root, entries, entrypoint, totalBytes, warnings };
}

/**
 * The entry point: `explicit` when given (it must be one of `paths`), else the first of
 * {@link ENTRYPOINT_CANDIDATES} in `paths`. Throws `entrypointNotFound` otherwise.
 */
export function detectEntrypoint(paths: Iterable<string>, explicit?: string): string {
  const present = new Set(paths);
  if (explicit !== undefined) {
    const wanted = toAssetPath(explicit);
    if (present.has(wanted)) return wanted;
    throw new DeployTenantError(
      "entrypointNotFound",
      `Entry point "${explicit}" is not among the files to deploy.`,
      {
        hint: "Pass --entrypoint with a path relative to the deployed directory, " +
          "and check it is not left out by .gitignore or --exclude.",
        exitCode: ExitCode.usage,
      },
    );
  }
  const found = ENTRYPOINT_CANDIDATES.find((candidate) => present.has(candidate));
  if (found !== undefined) return found;
  throw new DeployTenantError(
    "entrypointNotFound",
    `No entry point found (looked for ${ENTRYPOINT_CANDIDATES.join(", ")}).`,
    { hint: "Pass --entrypoint <file> to name it.", exitCode: ExitCode.usage },
  );
}

/**
 * {@link detectEntrypoint} without an explicit one; when none of the candidates is packed but
 * one is in the directory, the error says that ignore rules left it out (a `.gitignore` that
 * lists `main.ts` otherwise reads as "there is no main.ts").
 */
async function detectEntrypointOrSayWhy(root: string, paths: string[]): Promise<string> {
  try {
    return detectEntrypoint(paths);
  } catch (error) {
    for (const candidate of ENTRYPOINT_CANDIDATES) {
      const info = await Deno.stat(join(root, candidate)).catch(() => undefined);
      if (!info?.isFile) continue;
      throw new DeployTenantError(
        "entrypointNotFound",
        `No entry point among the files to deploy: ${candidate} is in the directory, but ` +
          ".gitignore, --include or --exclude leaves it out.",
        {
          hint: `Deploy it anyway with --no-gitignore or by changing those rules, or pass ` +
            "--entrypoint <file> to name another one.",
          exitCode: ExitCode.usage,
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Counters of one upload, updated while the body is pulled. */
export interface UploadStats {
  /** File assets written so far, with content or by hash. */
  files: number;
  /** File assets sent by `gitSha1` only. */
  reusedFiles: number;
  /** Body bytes handed to the consumer so far. */
  bytesSent: number;
}

/**
 * The file content bytes {@link deploymentBody} will read for `packed`: the files not sent by
 * hash. The body is larger (JSON escapes, base64), but this total is exact, so progress can
 * say "3.1 MiB of 12.0 MiB".
 */
export function contentBytesToSend(packed: Pack, reuse: (gitSha1: string) => boolean): number {
  let bytes = 0;
  for (const entry of packed.entries) {
    if (entry.kind === "file" && !reuse(entry.gitSha1)) bytes += entry.size;
  }
  return bytes;
}

/** Options of {@link deploymentBody}. */
export interface BodyOptions {
  /** Whether the server already holds this content; if so only the hash is sent. */
  reuse?: (gitSha1: string) => boolean;
  /**
   * Called each time a chunk is handed over, with the running total of body bytes and of file
   * content bytes read into the body so far (to compare with {@link contentBytesToSend}).
   */
  onBytes?: (bytesSent: number, contentBytesSent: number) => void;
  /** Updated in place while the body is pulled. */
  stats?: UploadStats;
  /**
   * Called with the error that ends the stream, e.g. `fileChanged`. `fetch` reports a failed
   * body only as `TypeError: fetch failed`, so this is how a caller learns the real cause.
   */
  onError?: (error: unknown) => void;
}

/**
 * Streams the JSON body of `POST /projects/{id}/deployments` (v1) or `POST /apps/{app}/deploy`
 * (v2, which takes the same file and symlink assets): the fields of `request`, then `assets`
 * built from `packed`. Files are read from disk only as the stream is pulled.
 *
 * The stream errors with `fileChanged` if a file no longer matches what {@link pack} hashed.
 */
export function deploymentBody(
  request: Omit<CreateDeploymentRequest, "assets"> | Omit<DeployRequest, "assets">,
  packed: Pack,
  options: BodyOptions = {},
): ReadableStream<Uint8Array> {
  const stats = options.stats ?? { files: 0, reusedFiles: 0, bytesSent: 0 };
  const content = { bytes: 0 };
  const pieces = bodyPieces(request, packed, options.reuse ?? (() => false), stats, content);
  const batcher = new ChunkBatcher();
  // No high-water mark: nothing is read before the consumer asks (a queued chunk would be
  // read, and checked, before a change the consumer could still see).
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (true) {
        let next: IteratorResult<string>;
        try {
          next = await pieces.next();
        } catch (error) {
          options.onError?.(error);
          throw error;
        }
        const chunk = next.done ? batcher.flush() : batcher.push(next.value);
        if (chunk !== undefined) {
          stats.bytesSent += chunk.byteLength;
          controller.enqueue(chunk);
          options.onBytes?.(stats.bytesSent, content.bytes);
        }
        if (next.done) controller.close();
        if (next.done || chunk !== undefined) return;
      }
    },
    async cancel() {
      await pieces.return(undefined);
    },
  }, { highWaterMark: 0 });
}

async function* bodyPieces(
  request: Omit<CreateDeploymentRequest, "assets"> | Omit<DeployRequest, "assets">,
  packed: Pack,
  reuse: (gitSha1: string) => boolean,
  stats: UploadStats,
  content: { bytes: number },
): AsyncGenerator<string> {
  const { assets: _ignored, ...fields } = request as { assets?: unknown };
  const head = JSON.stringify(fields);
  yield head === "{}" ? "{" : `${head.slice(0, -1)},`;
  yield `"assets":{`;
  let separator = "";
  for (const entry of packed.entries) {
    yield `${separator}${JSON.stringify(entry.path)}:`;
    separator = ",";
    if (entry.kind === "symlink") {
      yield JSON.stringify({ kind: "symlink", target: linkTarget(entry) });
      continue;
    }
    stats.files++;
    if (reuse(entry.gitSha1)) {
      stats.reusedFiles++;
      yield JSON.stringify({ kind: "file", gitSha1: entry.gitSha1 });
      continue;
    }
    yield `{"kind":"file","encoding":"${entry.encoding}","content":"`;
    yield* fileContent(entry, content);
    yield `"}`;
  }
  yield "}}";
}

/** The file's content as the inside of a JSON string, checked against its packed hash. */
async function* fileContent(
  entry: PackedFile,
  content: { bytes: number },
): AsyncGenerator<string> {
  const changed = () =>
    new DeployTenantError("fileChanged", `"${entry.path}" changed while it was being deployed.`, {
      hint: "Deploy again once the files stop changing.",
    });
  const encoder = entry.encoding === "utf-8" ? new JsonTextEncoder() : new Base64Encoder();
  // Hashing again would cost as much as packing did: the modification time says enough.
  const hash = entry.stamp === undefined ? new GitSha1(entry.size) : undefined;
  let bytesRead = 0;
  let stamp: FileStamp | undefined;
  // Read synchronously, like `pack`, through the shared buffer: each piece is encoded (a
  // string of its own) before anything else can read into it.
  const file = openFile(entry.absPath, entry.path);
  try {
    while (true) {
      const n = file.readSync(readBuffer);
      if (n === null) break;
      const chunk = readBuffer.subarray(0, n);
      hash?.update(chunk);
      bytesRead += n;
      content.bytes += n;
      yield encoder.encode(chunk);
    }
    yield encoder.finish();
    if (!hash) stamp = stampOf(file.statSync());
  } catch (error) {
    // Invalid UTF-8 in a file packed as text means it changed.
    throw error instanceof TypeError ? changed() : error;
  } finally {
    file.close();
  }
  const same = hash
    ? hash.digest() === entry.gitSha1
    : stamp?.mtime === entry.stamp!.mtime && stamp?.inode === entry.stamp!.inode;
  if (bytesRead !== entry.size || !same) throw changed();
}

// --- Walking --------------------------------------------------------------------------------

interface WalkedFile {
  path: string;
  absPath: string;
  size: number;
}

interface WalkResult {
  files: WalkedFile[];
  symlinks: PackedSymlink[];
  warnings: string[];
  /** Paths left out by ignore rules, for the empty-directory message. */
  skipped: number;
}

/** The rules of one `.gitignore`, which apply to paths below `base`. */
interface IgnoreLayer {
  base: string;
  rules: Ignore;
}

interface PendingDirectory {
  absPath: string;
  path: string;
  layers: IgnoreLayer[];
  /** Inside a `.git`/`node_modules` that `include` named: `.gitignore` does not apply. */
  optedIn: boolean;
}

async function walk(root: string, filter: PathFilter): Promise<WalkResult> {
  const realRoot = await Deno.realPath(root);
  const result: WalkResult = { files: [], symlinks: [], warnings: [], skipped: 0 };
  const pending: PendingDirectory[] = [{ absPath: root, path: "", layers: [], optedIn: false }];
  while (pending.length > 0) {
    const directory = pending.pop()!;
    const entries = await readDirectory(directory);
    const hasGitignore = entries.some((entry) => entry.name === ".gitignore" && !entry.isDirectory);
    const layers = filter.gitignore && !directory.optedIn && hasGitignore
      ? await withGitignore(directory)
      : directory.layers;
    for (const entry of entries) {
      const path = directory.path ? `${directory.path}/${entry.name}` : entry.name;
      const absPath = join(directory.absPath, entry.name);
      const isDirectory = entry.isDirectory;
      if (filter.excludes(path, isDirectory)) {
        result.skipped++;
        continue;
      }
      let optedIn = directory.optedIn;
      if (SKIPPED_DIRECTORIES.includes(entry.name)) {
        if (!filter.includesDirectory(entry.name)) continue;
        optedIn = true;
      }
      if (!optedIn && filter.gitignored(path, isDirectory, layers)) {
        result.skipped++;
        continue;
      }
      if (entry.name.includes("\uFFFD")) await assertUtf8Name(absPath, path);
      if (isDirectory) {
        pending.push({ absPath, path, layers, optedIn });
        continue;
      }
      if (!filter.includes(path)) {
        result.skipped++;
        continue;
      }
      if (entry.isSymlink) {
        result.symlinks.push(await resolveSymlink(absPath, path, realRoot));
      } else if (entry.isFile) {
        result.files.push({ path, absPath, size: (await lstat(absPath, path)).size });
      } else {
        result.warnings.push(`Skipped "${path}": not a regular file, directory or symlink.`);
      }
    }
  }
  return result;
}

/** Decides which paths the walk keeps, from `include`, `exclude` and `.gitignore`. */
class PathFilter {
  readonly gitignore: boolean;
  #include?: Ignore;
  #includePatterns: string[];
  #exclude: Ignore;

  constructor(options: PackOptions) {
    this.gitignore = options.gitignore ?? true;
    this.#includePatterns = options.include ?? [];
    // An empty list is what a CLI passes without --include: it means "no filter".
    if (this.#includePatterns.length > 0) this.#include = newIgnore().add(this.#includePatterns);
    this.#exclude = newIgnore().add(options.exclude ?? []);
  }

  /** Whether an `exclude` pattern matches. */
  excludes(path: string, isDirectory: boolean): boolean {
    return this.#exclude.ignores(isDirectory ? `${path}/` : path);
  }

  /** Whether `path` is wanted: always without `include`, else when a pattern matches. */
  includes(path: string): boolean {
    return this.#include === undefined || this.#include.ignores(path);
  }

  /** Whether a positive `include` pattern names the directory `name` as a path segment. */
  includesDirectory(name: string): boolean {
    return this.#includePatterns.some((pattern) =>
      !pattern.startsWith("!") && pattern.split("/").includes(name)
    );
  }

  /**
   * Whether `.gitignore` rules ignore `path`. As in git, the deepest `.gitignore` with a
   * matching rule decides, so a nested `!pattern` can re-include what the root ignores.
   * One gap: `ignore` checks parents within one file, so the contents of a directory that an
   * outer file ignores and an inner file re-includes stay ignored.
   */
  gitignored(path: string, isDirectory: boolean, layers: IgnoreLayer[]): boolean {
    for (let i = layers.length - 1; i >= 0; i--) {
      const { base, rules } = layers[i];
      const local = base === "" ? path : path.slice(base.length + 1);
      const verdict = rules.test(isDirectory ? `${local}/` : local);
      if (verdict.ignored) return true;
      if (verdict.unignored) return false;
    }
    return false;
  }
}

function newIgnore(): Ignore {
  // Match case the way git's default does on each platform's usual file system.
  return ignore({ ignorecase: Deno.build.os !== "linux" });
}

/** `directory`'s ignore layers plus the rules of its own `.gitignore`. */
async function withGitignore(directory: PendingDirectory): Promise<IgnoreLayer[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(directory.absPath, ".gitignore"));
  } catch (error) {
    // A dangling .gitignore symlink is not ours to report here; the walk does.
    if (error instanceof Deno.errors.NotFound) return directory.layers;
    throw fsError(error, directory.path ? `${directory.path}/.gitignore` : ".gitignore");
  }
  return [...directory.layers, { base: directory.path, rules: newIgnore().add(text) }];
}

async function readDirectory(directory: PendingDirectory): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(directory.absPath)) entries.push(entry);
  } catch (error) {
    throw fsError(error, directory.path || ".");
  }
  return entries.sort((a, b) => compare(a.name, b.name));
}

/** Resolves a symlink to an asset path inside the root, or explains why it cannot be. */
async function resolveSymlink(
  absPath: string,
  path: string,
  realRoot: string,
): Promise<PackedSymlink> {
  let realTarget: string;
  try {
    realTarget = await Deno.realPath(absPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DeployTenantError(
        "symlinkDangling",
        `Symlink "${path}" points to "${await readLinkOrUnknown(absPath)}", which does not exist.`,
        { hint: "Fix or remove the link, or leave it out with --exclude." },
      );
    }
    if (error instanceof Deno.errors.FilesystemLoop) throw symlinkLoop(path);
    throw fsError(error, path);
  }
  const target = relative(realRoot, realTarget).split(sep).join("/");
  if (target === ".." || target.startsWith("../") || isAbsolute(target)) {
    throw new DeployTenantError(
      "symlinkEscapesRoot",
      `Symlink "${path}" points outside the deployed directory, to ${realTarget}.`,
      { hint: "Copy the target into the directory, or leave the link out with --exclude." },
    );
  }
  // A link to the root or to one of its own parents would make the tree infinite.
  if (target === "" || path.startsWith(`${target}/`)) throw symlinkLoop(path);
  return { kind: "symlink", path, target };
}

/**
 * Deno reads a file name that is not UTF-8 with U+FFFD in place of the bad bytes, and that
 * name then names nothing. Asset names are Unicode, so such a file cannot be deployed under
 * its own name: refuse it by name rather than fail later as if it had vanished.
 */
async function assertUtf8Name(absPath: string, path: string): Promise<void> {
  try {
    await Deno.lstat(absPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw fsError(error, path);
    throw new DeployTenantError(
      "invalidFileName",
      `The name of "${path}" is not valid UTF-8 (\uFFFD marks the bytes that are not).`,
      { hint: "Deployed file names are Unicode: rename it, or leave it out with --exclude." },
    );
  }
}

function symlinkLoop(path: string): DeployTenantError {
  return new DeployTenantError("symlinkLoop", `Symlink "${path}" loops back on itself.`, {
    hint: "Fix or remove the link, or leave it out with --exclude.",
  });
}

async function readLinkOrUnknown(absPath: string): Promise<string> {
  try {
    return await Deno.readLink(absPath);
  } catch {
    return "?";
  }
}

async function lstat(absPath: string, path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.lstat(absPath);
  } catch (error) {
    throw fsError(error, path);
  }
}

// --- Reading files --------------------------------------------------------------------------

/**
 * Reads a file once: its size, git blob SHA-1, and whether it is text (all valid UTF-8, and no
 * NUL among its first bytes). Synchronous
 * reads into one reused buffer: an asynchronous read per piece costs a thread hop each, which
 * made packing twice as slow, and a buffer per file leaves the heap to grow with the tree.
 */
function inspectFile(absPath: string, path: string): PackedFile {
  const file = openFile(absPath, path);
  try {
    const info = file.statSync();
    const { size } = info;
    const hash = new GitSha1(size);
    const text = new Utf8Validator();
    // A NUL among the first bytes makes a file binary, as git decides: valid UTF-8 of mostly
    // NULs (a zeroed data file) sent as JSON text is six bytes per byte (`\u0000`), base64 is
    // 4 per 3. Only the first bytes: scanning every byte would cost packing ~10%.
    let binary = false;
    let nulChecked = false;
    let bytesRead = 0;
    while (true) {
      const n = file.readSync(readBuffer);
      if (n === null) break;
      const chunk = readBuffer.subarray(0, n);
      hash.update(chunk);
      bytesRead += n;
      if (!nulChecked) {
        binary = chunk.subarray(0, BINARY_SNIFF_BYTES).includes(0);
        nulChecked = true;
      }
      if (!binary) text.push(chunk);
    }
    if (bytesRead !== size) {
      throw new DeployTenantError("fileChanged", `"${path}" changed while it was being read.`, {
        hint: "Deploy again once the files stop changing.",
      });
    }
    const encoding = !binary && text.finish() ? "utf-8" : "base64";
    const stamp = stampOf(info);
    const racy = !stamp || Date.now() - stamp.mtime < RACY_MS;
    return {
      kind: "file",
      path,
      absPath,
      size,
      gitSha1: hash.digest(),
      encoding,
      ...(racy ? {} : { stamp }),
    };
  } finally {
    file.close();
  }
}

/** How many leading bytes are looked at for a NUL (git's `buffer_is_binary` looks at 8000). */
const BINARY_SNIFF_BYTES = 8000;

/** The file's stamp, if the system keeps modification times. */
function stampOf(info: Deno.FileInfo): FileStamp | undefined {
  const mtime = info.mtime?.getTime();
  return mtime === undefined ? undefined : { mtime, inode: info.ino };
}

/**
 * The buffer every file is read through. Shared safely: whatever reads into it consumes it
 * before it awaits. A multiple of 3 bytes, so base64 pieces need no carry.
 */
const readBuffer = new Uint8Array(192 * 1024);

/**
 * Whether bytes fed in pieces are all valid UTF-8, checked without decoding them into strings
 * (which a tree of text files would turn into as much garbage as it has text).
 */
class Utf8Validator {
  #carry = new Uint8Array(0);
  #valid = true;

  /** Checks the characters `chunk` completes; a character cut at its end waits for the next. */
  push(chunk: Uint8Array): void {
    if (!this.#valid) return;
    let bytes = chunk;
    if (this.#carry.length > 0) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
    }
    const end = completeLength(bytes);
    this.#valid = isUtf8(bytes.subarray(0, end));
    this.#carry = bytes.slice(end);
  }

  /** Whether everything pushed was valid UTF-8, ending on a whole character. */
  finish(): boolean {
    return this.#valid && this.#carry.length === 0;
  }
}

/** How many bytes of `bytes` end on a character boundary (a cut character stays out). */
function completeLength(bytes: Uint8Array): number {
  let lead = bytes.length - 1;
  while (lead >= 0 && bytes.length - lead <= 3 && (bytes[lead] & 0xc0) === 0x80) lead--;
  if (lead < 0) return bytes.length;
  const byte = bytes[lead];
  const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead + length > bytes.length ? lead : bytes.length;
}

function openFile(absPath: string, path: string): Deno.FsFile {
  try {
    return Deno.openSync(absPath);
  } catch (error) {
    throw fsError(error, path);
  }
}

// --- Checks and messages --------------------------------------------------------------------

async function assertDirectory(root: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DeployTenantError("rootNotFound", `Directory ${root} does not exist.`, {
        hint: "Pass the path of the directory to deploy.",
        exitCode: ExitCode.usage,
      });
    }
    throw fsError(error, root);
  }
  if (!info.isDirectory) {
    throw new DeployTenantError("rootNotDirectory", `${root} is not a directory.`, {
      hint: "Pass the directory that holds the code, not a single file.",
      exitCode: ExitCode.usage,
    });
  }
}

function emptyDirectory(root: string, skipped: number): DeployTenantError {
  const note = skipped > 0
    ? ` (${skipped} ${skipped === 1 ? "path" : "paths"} left out by ignore rules)`
    : "";
  return new DeployTenantError("emptyDirectory", `No files to deploy in ${root}${note}.`, {
    hint: "Deploy a directory with at least one file, or check .gitignore and --include/--exclude.",
    exitCode: ExitCode.usage,
  });
}

function assertWithinLimit(totalBytes: number, maxTotalBytes: number): void {
  if (totalBytes <= maxTotalBytes) return;
  throw new DeployTenantError(
    "deploymentTooLarge",
    `The files to deploy total ${formatBytes(totalBytes)}, over the limit of ` +
      `${formatBytes(maxTotalBytes)}.`,
    { hint: "Leave out build output and large files with --exclude or .gitignore." },
  );
}

function fsError(error: unknown, path: string): Error {
  if (error instanceof DeployTenantError) return error;
  if (error instanceof Deno.errors.NotFound) {
    return new DeployTenantError("fileChanged", `"${path}" disappeared while it was being read.`, {
      hint: "Deploy again once the files stop changing.",
      cause: error,
    });
  }
  const shown = shortPath(path);
  if (error instanceof Deno.errors.PermissionDenied) {
    return new DeployTenantError("unreadable", `Cannot read "${shown}": permission denied.`, {
      hint: "Fix its permissions, or leave it out with --exclude.",
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  // Deno's message ends with the operation and the whole path again: the path is shown once.
  const reason = message.replace(/\s*\(os error \d+\).*$/s, "").replace(/:\s*\w+ '.*$/s, "");
  const tooLong = /\(os error 36\)|name too long/i.test(message);
  return new DeployTenantError("unreadable", `Cannot read "${shown}": ${reason}.`, {
    hint: tooLong
      ? "Its path is longer than the system allows: shorten the tree there, or leave it out " +
        "with --exclude."
      : "Leave it out with --exclude, or fix what the error names.",
    cause: error,
  });
}

/** `path`, its middle cut when it is too long to read in one line of an error. */
function shortPath(path: string): string {
  return path.length <= 160 ? path : `${path.slice(0, 70)}…${path.slice(-70)}`;
}

function envFileWarnings(entries: PackedEntry[]): string[] {
  const envFiles = entries
    .map((entry) => entry.path)
    .filter((path) => path.slice(path.lastIndexOf("/") + 1).startsWith(".env"));
  if (envFiles.length === 0) return [];
  return [
    `${envFiles.map((path) => `"${path}"`).join(", ")} will be uploaded and may hold secrets; ` +
    "leave them out with --exclude or .gitignore, or pass the file with --env-file (its " +
    "variables are set and the file is not uploaded).",
  ];
}

/** Warns about symlinks whose target is not itself packed (left out by ignore rules). */
function danglingTargetWarnings(entries: PackedEntry[]): string[] {
  const packed = new Set<string>();
  for (const entry of entries) {
    packed.add(entry.path);
    // Directories holding packed paths are valid targets too.
    for (let i = entry.path.indexOf("/"); i !== -1; i = entry.path.indexOf("/", i + 1)) {
      packed.add(entry.path.slice(0, i));
    }
  }
  return entries
    .filter((entry) => entry.kind === "symlink" && !packed.has(entry.target))
    .map((link) =>
      `Symlink "${link.path}" points to "${(link as PackedSymlink).target}", which is not deployed.`
    );
}

/** A relative `path` as an asset key: POSIX separators, no `./` segments. */
function toAssetPath(path: string): string {
  return posix.normalize(path.replaceAll("\\", "/"));
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  return `${shown} ${units[unit]} (${bytes} bytes)`;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A symlink's target as the API reads it: relative to the link's own directory, like `readlink`. */
function linkTarget(link: PackedSymlink): string {
  return posix.relative(posix.dirname(link.path), link.target) || ".";
}
