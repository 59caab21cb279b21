/**
 * Generates benchmark trees: `count` files totalling about `totalBytes`, a share of them
 * binary (random bytes) and the rest UTF-8 text, in nested folders. Deterministic per seed,
 * so reruns measure the same tree.
 *
 * @module
 */
import { join } from "node:path";

/** What to generate. */
export interface TreeSpec {
  count: number;
  totalBytes: number;
  binaryShare: number;
  seed?: number;
}

/** Writes the tree under `root` (created) and returns the relative paths written. */
export async function generateTree(root: string, spec: TreeSpec): Promise<string[]> {
  const size = Math.floor(spec.totalBytes / spec.count);
  let state = spec.seed ?? 1;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const text = new TextEncoder().encode(
    "export const line = 'lorem ipsum dolor sit amet, consectetur adipiscing elit';\n".repeat(
      Math.ceil(size / 80) + 1,
    ),
  );
  const paths: string[] = [];
  for (let i = 0; i < spec.count; i++) {
    const dir = `d${i % 20}/e${i % 7}`;
    await Deno.mkdir(join(root, dir), { recursive: true });
    const binary = i < spec.count * spec.binaryShare;
    const path = `${dir}/f${i}.${binary ? "bin" : "ts"}`;
    let bytes: Uint8Array;
    if (binary) {
      bytes = new Uint8Array(size);
      for (let j = 0; j < size; j += 4) {
        const word = (random() * 2 ** 32) >>> 0;
        bytes[j] = word & 0xff;
        bytes[j + 1] = (word >>> 8) & 0xff;
        bytes[j + 2] = (word >>> 16) & 0xff;
        bytes[j + 3] = word >>> 24;
      }
      bytes[0] = 0xff; // never valid UTF-8
    } else {
      bytes = text.subarray(0, size);
      bytes = Uint8Array.from(bytes);
      bytes[bytes.length - 1] = 0x0a;
      // Make each text file distinct so nothing dedups by accident.
      bytes.set(new TextEncoder().encode(`// ${i}\n`), 0);
    }
    await Deno.writeFile(join(root, path), bytes);
    paths.push(path);
  }
  await Deno.writeTextFile(
    join(root, "main.ts"),
    "export default { fetch: () => new Response('hi') };\n",
  );
  paths.push("main.ts");
  // A tree a customer deploys was written earlier: files written this second are hashed again
  // at upload (lib/packer.ts, RACY_MS), which no real deploy of an existing tree pays.
  const yesterday = new Date(Date.now() - 86_400_000);
  for (const path of paths) await Deno.utime(join(root, path), yesterday, yesterday);
  return paths;
}
