/**
 * Where a process sits in the CPU controller's cgroup hierarchy, read as the host reads its own
 * (host/tenant/cgroups.ts parsers): for tests that check where the host puts processes.
 *
 * @module
 */
import { join } from "node:path";
import { parseCgroupMounts, parseSelfCgroup } from "../../host/tenant/cgroups.ts";

/** The cgroup path of `pid` in the hierarchy with the `cpu` controller (v1), else v2's. */
export function cpuCgroup(pid: number): string {
  const memberships = parseSelfCgroup(Deno.readTextFileSync(`/proc/${pid}/cgroup`));
  const membership = memberships.find((m) => m.controllers.includes("cpu")) ??
    memberships.find((m) => m.controllers.length === 0)!;
  return membership.path;
}

/** The directory of the cgroup `path` returned by {@link cpuCgroup}, under its mount. */
export function cpuCgroupDir(path: string): string {
  const mounts = parseCgroupMounts(Deno.readTextFileSync("/proc/self/mountinfo"));
  const mount = mounts.find((m) => m.type === "cgroup" && m.controllers.includes("cpu")) ??
    mounts.find((m) => m.type === "cgroup2")!;
  return join(mount.mountPoint, path.slice(mount.root.length));
}
