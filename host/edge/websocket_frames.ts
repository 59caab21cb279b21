/**
 * The client end of a WebSocket (RFC 6455) over an upgraded socket: the router speaks it to a
 * tenant. Frames it sends are masked, as a client's must be; frames it reads are reassembled
 * from fragments; pings are answered; a close is answered once and reported. Extensions are
 * never negotiated, so frames carry no RSV bits.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";

/** What the tenant's end does, as the relay sees it. */
export interface TenantEvents {
  /** A whole message: text as a string, binary as bytes. */
  message(data: string | Uint8Array): void;
  /** The connection ended: the tenant's close code and reason (1006 when it just went away). */
  close(code: number, reason: string): void;
}

/** The largest message accepted from a tenant (what Deno's own server allows by default). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A tenant's WebSocket, read and written frame by frame. */
export class TenantFrames {
  #socket: Duplex;
  #events: TenantEvents;
  /**
   * What was read and not made into frames yet, as it came: joined only once a whole frame is
   * there (joining on every read copied a 64 MiB message ~1 000 times, half a minute of the
   * host's event loop for one message of a tenant's).
   */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #closeSent = false;
  #ended = false;

  /** Starts reading `socket` (after `head`, the bytes that came with the 101). */
  constructor(socket: Duplex, head: Buffer, events: TenantEvents) {
    this.#socket = socket;
    this.#events = events;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("close", () => this.#end(1006, ""));
    socket.on("error", () => this.#end(1006, ""));
    if (head.byteLength > 0) this.#receive(head);
  }

  /** Bytes written to the tenant and not taken by its socket yet. */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /** Stops reading the tenant until {@link resume} (its client does not keep up). */
  pause(): void {
    this.#socket.pause();
  }

  /** Reads the tenant again after {@link pause}. */
  resume(): void {
    this.#socket.resume();
  }

  /** Sends a message: a string as text, bytes as binary. */
  send(data: string | Uint8Array): void {
    if (this.#closeSent || this.#ended) return;
    const payload = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    this.#write(typeof data === "string" ? OP_TEXT : OP_BINARY, payload);
  }

  /** Starts the closing handshake with `code` and `reason`. */
  close(code: number, reason: string): void {
    if (this.#closeSent || this.#ended) return;
    this.#closeSent = true;
    const text = Buffer.from(reason, "utf8").subarray(0, 123);
    const payload = Buffer.alloc(2 + text.byteLength);
    payload.writeUInt16BE(code, 0);
    text.copy(payload, 2);
    this.#write(OP_CLOSE, payload);
    // A tenant that never answers the close does not hold the connection.
    setTimeout(() => this.#socket.destroy(), 5_000).unref?.();
  }

  #write(opcode: number, payload: Buffer): void {
    const length = payload.byteLength;
    const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const frame = Buffer.alloc(2 + extended + 4 + length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | (length < 126 ? length : length < 65536 ? 126 : 127);
    if (extended === 2) frame.writeUInt16BE(length, 2);
    if (extended === 8) frame.writeBigUInt64BE(BigInt(length), 2);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    frame.set(mask, 2 + extended);
    const offset = 2 + extended + 4;
    for (let i = 0; i < length; i++) frame[offset + i] = payload[i] ^ mask[i & 3];
    this.#socket.write(frame);
  }

  #receive(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    while (!this.#ended) {
      const frame = this.#nextFrame();
      if (!frame) return;
      this.#handle(frame.fin, frame.opcode, frame.payload);
    }
  }

  /** The first `n` bytes read and not taken (`n` at most {@link #buffered}), joined. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.byteLength >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    for (let have = 0; have < n;) {
      const chunk = this.#chunks[parts.length];
      parts.push(chunk.subarray(0, n - have));
      have += parts.at(-1)!.byteLength;
    }
    return Buffer.concat(parts, n);
  }

  /** Takes the first `n` bytes read (at most {@link #buffered}), each copied once at most. */
  #take(n: number): Buffer {
    const taken: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const chunk = this.#chunks[0];
      if (chunk.byteLength <= left) {
        taken.push(chunk);
        this.#chunks.shift();
        left -= chunk.byteLength;
      } else {
        taken.push(chunk.subarray(0, left));
        this.#chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
    return taken.length === 1 ? taken[0] : Buffer.concat(taken, n);
  }

  /** The next whole frame read, or `undefined` until more bytes come. */
  #nextFrame(): { fin: boolean; opcode: number; payload: Buffer } | undefined {
    if (this.#buffered < 2) return undefined;
    // The longest head: 2 bytes, an 8-byte length, a 4-byte mask.
    const head = this.#peek(Math.min(this.#buffered, 14));
    const fin = (head[0] & 0x80) !== 0;
    const opcode = head[0] & 0x0f;
    const masked = (head[1] & 0x80) !== 0;
    let length = head[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (head.byteLength < 4) return undefined;
      length = head.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (head.byteLength < 10) return undefined;
      const big = head.readBigUInt64BE(2);
      if (big > BigInt(MAX_MESSAGE_BYTES)) {
        this.#fail(1009, "message too big");
        return undefined;
      }
      length = Number(big);
      offset = 10;
    }
    const maskBytes = masked ? 4 : 0;
    if (this.#buffered < offset + maskBytes + length) return undefined;
    const mask = masked ? Buffer.from(head.subarray(offset, offset + 4)) : undefined;
    this.#take(offset + maskBytes);
    let payload = this.#take(length);
    if (mask) {
      payload = Buffer.from(payload); // a copy: the bytes read may be shared
      for (let i = 0; i < payload.byteLength; i++) payload[i] ^= mask[i & 3];
    }
    return { fin, opcode, payload };
  }

  #handle(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        return this.#write(OP_PONG, payload);
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = payload.byteLength >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.byteLength > 2 ? payload.subarray(2).toString("utf8") : "";
        if (!this.#closeSent) {
          this.#closeSent = true;
          this.#write(OP_CLOSE, payload.subarray(0, Math.min(payload.byteLength, 125)));
        }
        this.#end(code, reason);
        this.#socket.end();
        return;
      }
      case OP_TEXT:
      case OP_BINARY:
      case OP_CONTINUATION: {
        if (opcode !== OP_CONTINUATION) this.#fragmentOpcode = opcode;
        this.#fragments.push(payload);
        this.#fragmentBytes += payload.byteLength;
        if (this.#fragmentBytes > MAX_MESSAGE_BYTES) return this.#fail(1009, "message too big");
        if (!fin) return;
        const whole = Buffer.concat(this.#fragments);
        this.#fragments = [];
        this.#fragmentBytes = 0;
        this.#events.message(
          this.#fragmentOpcode === OP_TEXT ? whole.toString("utf8") : new Uint8Array(whole),
        );
        return;
      }
      default:
        return this.#fail(1002, "unknown opcode");
    }
  }

  #fail(code: number, reason: string): void {
    this.close(code, reason);
    this.#end(code, reason);
  }

  #end(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#events.close(code, reason);
  }
}
