/**
 * Strict parsing of API request bodies. `JSON.parse` alone accepts two things the API must
 * not: a key given twice (the last one silently wins, so two readers of the same body can
 * disagree about it, and Deploy's typed parser refuses duplicate fields), and `__proto__`
 * keys (schema parsers drop them without a word, so an asset or env var by that name would
 * vanish). It would also build any number of tiny values from a body under the size limit,
 * which costs far more memory than the body's bytes.
 *
 * {@link parseStrictJson} scans the text first — counting values and checking keys, without
 * building anything — and only then parses it.
 *
 * @module
 */
import { RequestError } from "./validate.ts";

/** Most values (object members plus array elements) a request body may hold. */
export const MAX_JSON_VALUES = 1_000_000;

/** Options of {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** Most values allowed; default {@link MAX_JSON_VALUES}. */
  maxValues?: number;
}

/**
 * Parses a request body as JSON, refusing syntax errors, duplicate and `__proto__` keys
 * (400 `invalidJson`) and more than `maxValues` values (413 `payloadTooLarge`, before any
 * of them is built).
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  const maxValues = options.maxValues ?? MAX_JSON_VALUES;
  const scan = scanJson(text, maxValues);
  if (scan.tooManyValues) {
    throw new RequestError(
      413,
      "payloadTooLarge",
      `The request body holds more than ${maxValues} values; send fewer assets or entries`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) {
      throw new RequestError(413, "payloadTooLarge", "The request body is too large to parse");
    }
    throw new RequestError(
      400,
      "invalidJson",
      `The request body is not valid JSON: ${error.message}`,
    );
  }
  if (scan.problem) throw new RequestError(400, "invalidJson", scan.problem);
  return value;
}

/**
 * Bodies at least this long are parsed by {@link parseStrictJsonBytes} piece by piece: V8's
 * longest string (2^29 − 24 UTF-16 units) cannot hold a deployment body of 1 GB of assets.
 */
export const ONE_PIECE_BYTES = 256 * 1024 * 1024;

/**
 * String literals at least this long are set aside when a body is parsed in pieces. Small:
 * what stays must fit one string, and a body may hold {@link MAX_JSON_VALUES} values.
 */
const SPILL_BYTES = 256;

/** V8's longest string, in UTF-16 code units (one per byte at most). */
const MAX_STRING_LENGTH = 2 ** 29 - 24;

/**
 * Parses a UTF-8 request body like {@link parseStrictJson}. A body of `onePieceBytes` or more
 * is parsed without ever being one string: every string literal of `spillBytes` or more (an
 * asset's content) is cut out and parsed on its own, the rest parsed with a placeholder in
 * its place, and the placeholders then replaced.
 */
export function parseStrictJsonBytes(
  bytes: Uint8Array,
  options: StrictJsonOptions & { onePieceBytes?: number; spillBytes?: number } = {},
): unknown {
  if (bytes.byteLength < (options.onePieceBytes ?? ONE_PIECE_BYTES)) {
    return parseStrictJson(decodeUtf8(bytes), options);
  }
  const spillBytes = options.spillBytes ?? SPILL_BYTES;
  const marker = `\u0000spill:${crypto.randomUUID()}:`;
  const rest: string[] = [];
  const spilled: string[] = [];
  let copied = 0;
  for (let start = bytes.indexOf(QUOTE); start >= 0;) {
    const end = literalEnd(bytes, start);
    if (end < 0) break; // unterminated: the parse of the rest says so
    if (end - start >= spillBytes) {
      rest.push(decodeUtf8(bytes.subarray(copied, start)), JSON.stringify(marker + spilled.length));
      const literal = parseStrictJson(decodeUtf8(bytes.subarray(start, end + 1)));
      spilled.push(literal as string);
      copied = end + 1;
    }
    start = bytes.indexOf(QUOTE, end + 1);
  }
  rest.push(decodeUtf8(bytes.subarray(copied)));
  const value = parseStrictJson(rest.join(""), options);
  return spilled.length === 0 ? value : restore(value, marker, spilled);
}

/** The index of the quote that ends the string literal opened at `start`, or -1. */
function literalEnd(bytes: Uint8Array, start: number): number {
  for (let at = bytes.indexOf(QUOTE, start + 1); at >= 0; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/** `value` with each placeholder string replaced by the literal it stands for. */
function restore(value: unknown, marker: string, spilled: string[]): unknown {
  if (typeof value === "string") {
    return value.startsWith(marker) ? spilled[Number(value.slice(marker.length))] : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restore(value[i], marker, spilled);
  } else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = restore(record[key], marker, spilled);
  }
  return value;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    if (bytes.byteLength >= MAX_STRING_LENGTH || error instanceof RangeError) {
      throw new RequestError(
        413,
        "payloadTooLarge",
        `A piece of the request body (${bytes.byteLength} bytes) is too large to parse`,
      );
    }
    throw new RequestError(400, "invalidJson", "The request body is not valid UTF-8");
  }
}

interface ObjectFrame {
  kind: "object";
  /** An array while small (most objects are), a set once large. */
  keys: string[] | Set<string>;
  /** Whether the next string is a key (after `{` or a `,`). */
  expectKey: boolean;
  lastKey?: string;
}

interface ArrayFrame {
  kind: "array";
  index: number;
}

type Frame = ObjectFrame | ArrayFrame;

interface ScanResult {
  tooManyValues: boolean;
  /** The first duplicate or `__proto__` key, described for the error message. */
  problem?: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Walks the structure of JSON text without building it. On text that is not valid JSON the
 * result means nothing (but the walk ends): `JSON.parse` reports the error.
 */
function scanJson(text: string, maxValues: number): ScanResult {
  const frames: Frame[] = [];
  let values = 0;
  let problem: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) break;
      const frame = frames.at(-1);
      if (frame?.kind === "object" && frame.expectKey) {
        const key = keyText(text.slice(i, end + 1));
        frame.expectKey = false;
        if (problem === undefined && key !== undefined) {
          if (key === "__proto__") {
            problem = `The key "__proto__" is not allowed${where(frames)}`;
          } else if (hasKey(frame, key)) {
            problem = `The key ${JSON.stringify(key)} appears twice${where(frames)}`;
          }
        }
        if (key !== undefined) addKey(frame, key);
        frame.lastKey = key;
      }
      i = end; // strings are skipped with indexOf, not character by character
      continue;
    }
    switch (char) {
      case OPEN_BRACE:
        frames.push({ kind: "object", keys: [], expectKey: true });
        break;
      case OPEN_BRACKET:
        frames.push({ kind: "array", index: 0 });
        values++; // its first element (an empty array counts one too many: harmless)
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        frames.pop();
        break;
      case COLON:
        values++;
        break;
      case COMMA: {
        const frame = frames.at(-1);
        if (frame?.kind === "object") frame.expectKey = true;
        else if (frame) {
          frame.index++;
          values++;
        }
        break;
      }
    }
    if (values > maxValues) return { tooManyValues: true };
  }
  return { tooManyValues: false, problem };
}

const SMALL_OBJECT_KEYS = 16;

function hasKey(frame: ObjectFrame, key: string): boolean {
  return Array.isArray(frame.keys) ? frame.keys.includes(key) : frame.keys.has(key);
}

function addKey(frame: ObjectFrame, key: string): void {
  if (!Array.isArray(frame.keys)) frame.keys.add(key);
  else if (frame.keys.length < SMALL_OBJECT_KEYS) frame.keys.push(key);
  else frame.keys = new Set([...frame.keys, key]);
}

/** Index of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let quote = start;
  for (;;) {
    quote = text.indexOf('"', quote + 1);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let k = quote - 1; text.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
}

/** A key token's text with escapes decoded, or `undefined` when it is not a valid string. */
function keyText(token: string): string | undefined {
  if (!token.includes("\\")) return token.slice(1, -1);
  try {
    return JSON.parse(token);
  } catch {
    return undefined;
  }
}

/** ` in assets` / ` in permissions.net[2]`: where the innermost object sits. */
function where(frames: Frame[]): string {
  let path = "";
  for (const frame of frames.slice(0, -1)) {
    if (frame.kind === "array") path += `[${frame.index}]`;
    else if (frame.lastKey !== undefined) {
      path += /^[A-Za-z_$][\w$]*$/.test(frame.lastKey)
        ? `${path ? "." : ""}${frame.lastKey}`
        : `[${JSON.stringify(frame.lastKey)}]`;
    }
  }
  return path ? ` in ${path}` : " in the request body";
}
