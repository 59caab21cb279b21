/**
 * "Is this program here?" — answered once, the same way, for the host, the demo, the tests
 * and the benchmarks. Looks the name up on `PATH` (and the sbin directories, where Debian puts
 * daemons such as HAProxy) without running anything, so it cannot throw: spawning a missing
 * program throws synchronously in Deno, which is how a missing `bwrap` once killed the demo.
 *
 * @module
 */

/** Directories searched after `PATH`: non-root users often lack them on theirs. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The Debian/Ubuntu package of the optional programs this project uses, and what each is for.
 * Every hint the project prints comes from here.
 */
const PACKAGES: Record<string, { package: string; purpose: string }> = {
  bwrap: { package: "bubblewrap", purpose: "the OS sandbox around each tenant" },
  haproxy: { package: "haproxy", purpose: "the front proxy, the host's fast data path" },
  zsh: { package: "zsh", purpose: "zsh completions" },
  fish: { package: "fish", purpose: "fish completions" },
  bash: { package: "bash", purpose: "bash completions" },
  wrk: { package: "wrk", purpose: "the throughput benchmarks" },
  git: { package: "git", purpose: "git's own blob hashes, compared with ours" },
  openssl: { package: "openssl", purpose: "TLS certificates of the local host" },
  unshare: { package: "util-linux", purpose: "private mount namespaces" },
  setpriv: { package: "util-linux", purpose: "a parent-death signal for unsandboxed tenants" },
  valgrind: { package: "valgrind", purpose: "instruction counts of the front proxy" },
};

/**
 * The absolute path of the executable `name` on `PATH` (then the sbin directories), or
 * `undefined` when there is none. A name with a `/` is checked as it is. Never throws.
 */
export function findProgram(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  let path = "";
  try {
    path = Deno.env.get("PATH") ?? "";
  } catch { /* no --allow-env: only the fixed directories */ }
  const dirs = [...path.split(":"), ...SBIN_DIRS].filter((dir) => dir.startsWith("/"));
  for (const dir of new Set(dirs)) {
    const candidate = `${dir}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Whether the program `name` is installed (see {@link findProgram}). */
export function hasProgram(name: string): boolean {
  return findProgram(name) !== undefined;
}

/**
 * One line saying what `name` is for and how to install it, e.g.
 * `fish (fish completions): sudo apt-get install fish`.
 */
export function installHint(name: string): string {
  const known = PACKAGES[name];
  if (!known) return `${name}: install it with your system's package manager`;
  return `${name} (${known.purpose}): sudo apt-get install ${known.package}`;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
