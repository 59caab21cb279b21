/**
 * Identifiers and secrets the local host hands out: UUIDs for organizations and projects,
 * 12-character deployment ids (the shape Deploy uses), access tokens and random project names.
 *
 * All randomness comes from the platform CSPRNG.
 *
 * @module
 */

const LOWER_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniformly random characters from `alphabet` (rejection sampling, so no modulo bias). */
function randomString(alphabet: string, length: number): string {
  // The largest multiple of the alphabet size that fits in a byte: bytes above it are redrawn.
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte >= limit) continue;
      out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A random UUID v4, for organizations and projects. */
export function newUuid(): string {
  return crypto.randomUUID();
}

/** Whether `value` is a UUID in canonical lowercase-or-uppercase 8-4-4-4-12 hex form. */
export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

/** A deployment id: 12 characters of `[a-z0-9]`, like Deploy's `rn3mjpwsw24d`. */
export function newDeploymentId(): string {
  return randomString(LOWER_ALPHANUMERIC, 12);
}

/** Whether `value` has the shape of a deployment id. */
export function isDeploymentId(value: string): boolean {
  return /^[a-z0-9]{12}$/.test(value);
}

/** A new access token: `ddo_` (an organization token, as Deploy v2 issues) and 32 base62 characters (~190 bits). */
export function newToken(): string {
  return `ddo_${randomString(BASE62, 32)}`;
}

// Animals avoid lengths 8 and 12: a project-name part after a hyphen may not have them.
const ADJECTIVES = [
  "able",
  "bold",
  "brave",
  "calm",
  "clever",
  "cool",
  "eager",
  "fair",
  "fast",
  "gentle",
  "glad",
  "happy",
  "keen",
  "kind",
  "lucky",
  "mellow",
  "merry",
  "proud",
  "quick",
  "quiet",
  "sad",
  "sharp",
  "shy",
  "smart",
  "strong",
  "sunny",
  "swift",
  "tidy",
  "warm",
  "wise",
];

const ANIMALS = [
  "ant",
  "bat",
  "bear",
  "bee",
  "bison",
  "cat",
  "crab",
  "crow",
  "deer",
  "dog",
  "dove",
  "eagle",
  "eel",
  "fox",
  "frog",
  "goat",
  "hawk",
  "heron",
  "horse",
  "lion",
  "lynx",
  "mole",
  "moose",
  "newt",
  "otter",
  "owl",
  "panda",
  "puma",
  "rhino",
  "robin",
  "seal",
  "shark",
  "sheep",
  "snail",
  "swan",
  "tiger",
  "toad",
  "trout",
  "whale",
  "wolf",
  "yak",
  "zebra",
];

function pick<T>(items: readonly T[]): T {
  const [value] = crypto.getRandomValues(new Uint32Array(1));
  return items[value % items.length];
}

/**
 * A random project name in Deploy's style, e.g. `sad-rhino-75`: adjective, animal and two
 * digits. Always valid under the project-name rules; the caller retries on a clash.
 */
export function randomProjectName(): string {
  const digits = randomString("0123456789", 2);
  return `${pick(ADJECTIVES)}-${pick(ANIMALS)}-${digits}`;
}
