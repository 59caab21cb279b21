/**
 * WebSockets through the host's router (HAProxy carries warm ones itself; a cold start and a
 * host without HAProxy come here): the router opens the tenant's WebSocket over its unix
 * socket first, with the client's own handshake headers (its `Sec-WebSocket-Protocol` as it
 * wrote it: Deno accepts only ", " between protocols), so the client's upgrade is answered
 * with what the tenant answered — its `101` and subprotocol, or its refusal as an ordinary
 * response — and then relays messages both ways, text as text and binary as binary, and each
 * side's close to the other.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { type IncomingMessage, request as httpRequest } from "node:http";
import type { Duplex } from "node:stream";
import { TenantFrames } from "./websocket_frames.ts";
import { tenantResponse } from "../tenant/client.ts";

/** Headers the router's handshake sets itself; the rest of the client's go to the tenant. */
const HANDSHAKE_HEADERS = new Set([
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "content-length",
  "transfer-encoding",
]);

/**
 * A client connection handed over raw, as `node:https` hands an upgrade request to its
 * `'upgrade'` listener (the HTTPS port: `Deno.upgradeWebSocket` cannot take such a request
 * over). Once the tenant has accepted, the relay answers the client's handshake on `socket`
 * itself and splices the two connections byte for byte (client frames are masked, as the
 * tenant expects from its client; no extension is negotiated on either side), and sets
 * `taken`; otherwise the caller writes the answer it gets.
 */
export interface RawUpgrade {
  /** The client's connection, after its request head. */
  socket: Duplex;
  /** Bytes the client sent after its request head. */
  head: Uint8Array;
  /** Set once the relay has answered on `socket`. */
  taken?: boolean;
}

const rawUpgrades = new WeakMap<Request, RawUpgrade>();

/** Marks `request` as one whose client connection `raw` the relay may take over. */
export function upgradeRaw(request: Request, raw: RawUpgrade): void {
  rawUpgrades.set(request, raw);
}

/** The answer when the tenant's WebSocket could not be opened. */
function unavailable(error: Error): Response {
  return Response.json(
    { code: "deploymentUnavailable", message: `WebSocket to the deployment: ${error.message}` },
    { status: 502 },
  );
}

/** Whether `request` asks to become a WebSocket. */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * Answers a WebSocket upgrade by opening the same WebSocket to the tenant listening on
 * `socketPath` (`path` with its query, `headers` as the router forwards them), then relaying.
 * `onOpen` and `onClose` bracket the relayed connection (the tenant counts as busy meanwhile);
 * `onBytes` is told the bytes of its frames as they cross the tenant's connection (for billing).
 */
export async function relayWebSocket(
  request: Request,
  socketPath: string,
  path: string,
  headers: Headers,
  hooks: RelayHooks = {},
): Promise<Response> {
  const forwarded: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (!HANDSHAKE_HEADERS.has(name)) forwarded[name] = value;
  }
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  const opened = await new Promise<{ socket: Duplex; head: Buffer; protocol?: string } | Response>(
    (resolve) => {
      const outgoing = httpRequest({
        socketPath,
        path,
        method: "GET",
        setHost: false,
        headers: {
          ...forwarded,
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-key": key,
          "sec-websocket-version": "13",
        },
      });
      outgoing.on("upgrade", (response: IncomingMessage, socket: Duplex, head: Buffer) => {
        const protocol = response.headers["sec-websocket-protocol"];
        resolve({ socket, head, protocol: typeof protocol === "string" ? protocol : undefined });
      });
      // A refusal is an answer like any other of the tenant's: it streams as the client reads
      // it, and its bytes are billed. Read whole first, one of any size waited in the host's
      // memory (a tenant could end the host so), and none of it was billed.
      outgoing.on("response", (response: IncomingMessage) => {
        const onBytes = hooks.onBytes;
        try {
          resolve(tenantResponse(response, {
            method: "GET",
            onBodyBytes: onBytes && ((bytes) => onBytes(0, bytes)),
            sharedDomains: hooks.sharedDomains,
          }));
        } catch (error) { // a status no Response can have
          response.destroy();
          resolve(unavailable(error as Error));
        }
      });
      outgoing.on("error", (error: Error) => resolve(unavailable(error)));
      outgoing.end();
    },
  );
  if (opened instanceof Response) return opened;
  if (hooks.onBytes) meterTenant(opened.socket, opened.head, hooks.onBytes);

  const raw = rawUpgrades.get(request);
  if (raw) {
    spliceRaw(raw, request.headers.get("sec-websocket-key") ?? "", opened, hooks);
    // Not written: the connection is the tenant's now.
    return new Response(null, { status: 204 });
  }

  const { socket: client, response } = Deno.upgradeWebSocket(request, {
    protocol: opened.protocol,
  });
  hooks.onOpen?.();
  client.binaryType = "arraybuffer";
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    hooks.onClose?.();
  };
  // What the tenant sends before the client's side is open waits for it.
  const early: (string | Uint8Array)[] = [];
  // Neither side is read faster than the other takes it: what waits for a slow client (or a
  // tenant that does not read) would wait in the host's memory, without bound.
  let draining: ReturnType<typeof setInterval> | undefined;
  const keepUp = () => {
    if (draining !== undefined) return;
    if (client.readyState === client.OPEN && client.bufferedAmount <= RELAY_BUFFER_BYTES) return;
    tenant.pause();
    draining = setInterval(() => {
      if (client.readyState === client.CONNECTING) return;
      if (client.readyState === client.OPEN && client.bufferedAmount > RELAY_BUFFER_BYTES / 2) {
        return;
      }
      clearInterval(draining);
      draining = undefined;
      tenant.resume();
    }, RELAY_DRAIN_POLL_MS);
  };
  const tenant = new TenantFrames(opened.socket, opened.head, {
    message: (data) => {
      if (client.readyState === client.OPEN) client.send(data);
      else early.push(data);
      keepUp();
    },
    close: (code, reason) => {
      if (client.readyState === client.OPEN || client.readyState === client.CONNECTING) {
        client.close(sendableCode(code), reason);
      }
      clearInterval(draining);
      finish();
    },
  });
  client.onopen = () => {
    for (const data of early.splice(0)) client.send(data);
  };
  client.onmessage = (event) => {
    tenant.send(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
    // A client's socket cannot be paused: one that sends more than the tenant takes is closed.
    if (tenant.writableLength > RELAY_BUFFER_BYTES) {
      client.close(1008, "the deployment does not take messages this fast");
      tenant.close(1008, "the client sent faster than this end read");
    }
  };
  client.onclose = (event) => {
    clearInterval(draining);
    tenant.close(sendableCode(event.code), event.reason);
    finish();
  };
  client.onerror = () => {};
  return response;
}

/** What {@link relayWebSocket} tells its caller about the relayed connection. */
export interface RelayHooks {
  onOpen?: () => void;
  onClose?: () => void;
  /** Bytes written to the tenant (`toTenant`) or read from it (`fromTenant`), as they cross. */
  onBytes?: (toTenant: number, fromTenant: number) => void;
  /** A refusal's `Set-Cookie` naming one of these is left out (shared_cookies.ts). */
  sharedDomains?: readonly string[];
}

/**
 * Counts what crosses the tenant's end of a relayed WebSocket, frames as they are (HAProxy
 * counts a tunnel's bytes the same way): every read, and every write, whether the relay wrote
 * frames of its own or spliced the client's. Without it a WebSocket through the router was not
 * billed at all.
 */
function meterTenant(
  socket: Duplex,
  head: Uint8Array,
  onBytes: (toTenant: number, fromTenant: number) => void,
): void {
  if (head.byteLength > 0) onBytes(0, head.byteLength);
  socket.on("data", (chunk: Uint8Array) => onBytes(0, chunk.byteLength));
  const write = (socket.write as (...args: unknown[]) => boolean).bind(socket);
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    const bytes = typeof chunk === "string"
      ? Buffer.byteLength(chunk)
      : (chunk as Uint8Array).byteLength;
    onBytes(bytes, 0);
    return write(chunk, ...rest);
  }) as typeof socket.write;
}

/**
 * Bytes the relay lets wait for one side of a WebSocket: past them it stops reading the tenant
 * until its client has taken half (or closes the connection of a client sending faster than the
 * tenant reads). Without it, a tenant sending to a client that did not read grew the host by
 * what it sent (300 MiB: +180 MiB of the host's memory in 8 s).
 */
export const RELAY_BUFFER_BYTES = 8 * 1024 * 1024;

/** How often a paused relay looks whether its client has caught up. */
const RELAY_DRAIN_POLL_MS = 20;

/** RFC 6455's GUID, hashed with the client's key into `Sec-WebSocket-Accept`. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65";

/** Answers the client's handshake on its raw connection, then joins it to the tenant's. */
function spliceRaw(
  raw: RawUpgrade,
  key: string,
  tenant: { socket: Duplex; head: Buffer; protocol?: string },
  hooks: RelayHooks,
): void {
  raw.taken = true;
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  raw.socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (tenant.protocol ? `Sec-WebSocket-Protocol: ${tenant.protocol}\r\n` : "") + "\r\n",
  );
  if (tenant.head.length > 0) raw.socket.write(tenant.head);
  if (raw.head.length > 0) tenant.socket.write(raw.head);
  hooks.onOpen?.();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    raw.socket.destroy();
    tenant.socket.destroy();
    hooks.onClose?.();
  };
  for (const socket of [raw.socket, tenant.socket]) {
    socket.on("close", finish);
    socket.on("error", finish);
  }
  raw.socket.pipe(tenant.socket);
  tenant.socket.pipe(raw.socket);
}

/** A close code one may send (1005 and 1006 only describe what happened): else 1000. */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}
