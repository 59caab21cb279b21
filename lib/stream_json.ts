/**
 * Pieces for writing one JSON document as a stream: a file's bytes become the inside of a
 * JSON string chunk by chunk, either as escaped UTF-8 text or as base64, without ever
 * holding the whole file.
 *
 * @module
 */

/** Escapes `text` for use between the quotes of a JSON string. */
export function escapeJsonString(text: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters natively.
  return JSON.stringify(text).slice(1, -1);
}

/**
 * Turns UTF-8 bytes, fed in chunks, into the escaped inside of a JSON string.
 *
 * A character split across two chunks is held back until its last byte arrives, so every
 * piece returned is complete text. Invalid UTF-8 throws a `TypeError`.
 */
export class JsonTextEncoder {
  // ignoreBOM keeps a leading byte order mark in the text instead of dropping it.
  #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  /** Escaped text for the characters completed by `chunk`. */
  encode(chunk: Uint8Array): string {
    return escapeJsonString(this.#decoder.decode(chunk, { stream: true }));
  }

  /** Ends the input; throws if it stopped in the middle of a character. */
  finish(): string {
    return escapeJsonString(this.#decoder.decode());
  }
}

/**
 * Base64-encodes bytes fed in chunks. Each piece covers a multiple of 3 bytes, so the
 * pieces join into one valid base64 string; the last 1–2 bytes wait for `finish()`.
 */
export class Base64Encoder {
  #carry: Uint8Array = new Uint8Array(0);

  /** Base64 for the whole byte triples available after `chunk`. */
  encode(chunk: Uint8Array): string {
    let bytes = chunk;
    if (this.#carry.length > 0) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
    }
    const whole = bytes.length - (bytes.length % 3);
    // Copy the remainder: the caller may reuse its buffer for the next chunk.
    this.#carry = bytes.slice(whole);
    return bytes.subarray(0, whole).toBase64();
  }

  /** The padded base64 of the bytes still held back. */
  finish(): string {
    const rest = this.#carry.toBase64();
    this.#carry = new Uint8Array(0);
    return rest;
  }
}

/**
 * Gathers small strings into chunks of at least `minBytes`-ish UTF-8 bytes, so a stream
 * of many tiny JSON fragments is not sent as many tiny writes.
 */
export class ChunkBatcher {
  #pending = "";
  #minLength: number;
  #encoder = new TextEncoder();

  /** Batches into chunks of about `minLength` characters (default 64 KiB). */
  constructor(minLength = 64 * 1024) {
    this.#minLength = minLength;
  }

  /** Adds `text`; returns a chunk once enough has gathered. */
  push(text: string): Uint8Array | undefined {
    this.#pending += text;
    if (this.#pending.length < this.#minLength) return undefined;
    return this.flush();
  }

  /** Returns whatever has gathered, if anything. */
  flush(): Uint8Array | undefined {
    if (this.#pending === "") return undefined;
    const chunk = this.#encoder.encode(this.#pending);
    this.#pending = "";
    return chunk;
  }
}
