/**
 * What the runtime needs to start a deployment's process: its own module (not the runtime's),
 * so the warm pool and the runtime share it without importing each other.
 *
 * @module
 */

/** What the supervisor needs to know about a deployment to run it. */
export interface RunnableDeployment {
  id: string;
  entrypoint: string;
  envVars: Record<string, string>;
  /** The KV database `Deno.openKv()` opens (`databases.default`), if any. */
  kvDatabaseId?: string | null;
  net?: string[] | null;
  denoFlags: string[];
  /** The program's arguments (`Deno.args`); none when omitted. */
  args?: string[];
  /** The request time limit the tenant answers 504 at itself (see limits.ts), in ms. */
  requestTimeoutMs?: number;
}
