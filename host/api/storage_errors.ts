/**
 * Tells failures of the data dir's storage apart from bugs, so the API can say what happened:
 * a full disk (or a file size or quota limit) is `507 insufficientStorage`, a read-only or
 * unwritable data dir `500 storageNotWritable`, another I/O error `500 storageError`.
 *
 * Deno's file errors carry the errno name in `code` (or only `(os error N)` in the message);
 * `node:sqlite` errors carry SQLite's result code in `errcode`.
 *
 * @module
 */

/** What the API answers for a storage failure. */
export interface StorageFailure {
  status: 500 | 507;
  code: "insufficientStorage" | "storageNotWritable" | "storageError";
  message: string;
}

const FULL: StorageFailure = {
  status: 507,
  code: "insufficientStorage",
  message: "The host's storage is full, so the request changed nothing. " +
    "Free space in the host's data directory (or raise its quota) and try again.",
};

const NOT_WRITABLE: StorageFailure = {
  status: 500,
  code: "storageNotWritable",
  message: "The host cannot write to its data directory (read-only file system or " +
    "permission denied), so the request changed nothing. Check the data directory's " +
    "mount and permissions.",
};

const IO_ERROR: StorageFailure = {
  status: 500,
  code: "storageError",
  message: "The host's storage failed (I/O error), so the request changed nothing. " +
    "Check the disk that holds the host's data directory.",
};

/** errno names, with their Linux numbers for errors that only say `(os error N)`. */
const ERRNO: Record<string, { number: number; failure: StorageFailure }> = {
  ENOSPC: { number: 28, failure: FULL },
  EFBIG: { number: 27, failure: FULL }, // past RLIMIT_FSIZE or the file system's largest file
  EDQUOT: { number: 122, failure: FULL },
  EROFS: { number: 30, failure: NOT_WRITABLE },
  EACCES: { number: 13, failure: NOT_WRITABLE },
  EPERM: { number: 1, failure: NOT_WRITABLE },
  EIO: { number: 5, failure: IO_ERROR },
};

/** SQLite primary result codes (`errcode & 0xff`). */
const SQLITE: Record<number, StorageFailure> = {
  13: FULL, // SQLITE_FULL
  8: NOT_WRITABLE, // SQLITE_READONLY
  14: NOT_WRITABLE, // SQLITE_CANTOPEN
  10: IO_ERROR, // SQLITE_IOERR
  11: IO_ERROR, // SQLITE_CORRUPT
};

/**
 * SQLite's own messages (`sqlite3_errstr`) by primary code: Deno's `node:sqlite` gives an
 * error from `exec()` (a COMMIT, say) its message but no `errcode`.
 */
const SQLITE_MESSAGES: [RegExp, StorageFailure][] = [
  [/^database or disk is full\b/, FULL],
  [/^attempt to write a readonly database\b/, NOT_WRITABLE],
  [/^unable to open database file\b/, NOT_WRITABLE],
  [/^disk I\/O error\b/, IO_ERROR],
  [/^database disk image is malformed\b/, IO_ERROR],
];

/** The storage failure `error` (or one of its causes) is, or `undefined` for anything else. */
export function storageFailure(error: unknown): StorageFailure | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const found = classify(current);
    if (found) return found;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function classify(error: unknown): StorageFailure | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, errcode, message } = error as {
    code?: unknown;
    errcode?: unknown;
    message?: unknown;
  };
  if (code === "ERR_SQLITE_ERROR" && typeof errcode === "number") return SQLITE[errcode & 0xff];
  if (code === "ERR_SQLITE_ERROR" && typeof message === "string") {
    return SQLITE_MESSAGES.find(([pattern]) => pattern.test(message))?.[1];
  }
  if (typeof code === "string" && code in ERRNO) return ERRNO[code].failure;
  if (error instanceof Deno.errors.PermissionDenied) return NOT_WRITABLE;
  const number = typeof message === "string" ? message.match(/\(os error (\d+)\)/)?.[1] : undefined;
  if (number === undefined || Deno.build.os !== "linux") return undefined;
  return Object.values(ERRNO).find((entry) => entry.number === Number(number))?.failure;
}
