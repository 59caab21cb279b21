/**
 * An API the CLI must not call: a loopback server that counts requests and answers each with
 * an error. `requests()` still 0 after a command is the proof that it sent nothing.
 *
 * @module
 */

/** A running sentinel API. */
export interface SentinelApi {
  /** Environment for `runCli` pointing the CLI at it (v1, with a token and an organization). */
  env: Record<string, string>;
  /** How many requests it has had. */
  requests(): number;
  /** Stops the server. */
  stop(): Promise<void>;
}

/** Starts a sentinel API on a free loopback port. */
export function sentinelApi(): SentinelApi {
  let requests = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
    requests++;
    return Response.json({ code: "unexpected", message: "no request was expected" }, {
      status: 500,
    });
  });
  return {
    env: {
      DEPLOY_API_URL: `http://127.0.0.1:${server.addr.port}/v1`,
      DEPLOY_ACCESS_TOKEN: "token",
      DEPLOY_ORG_ID: "00000000-0000-4000-8000-000000000000",
    },
    requests: () => requests,
    stop: () => server.shutdown(),
  };
}
