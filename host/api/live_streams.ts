/**
 * How many live log streams (v1 `app_logs` without `since`/`until`, v2 `/apps/{app}/logs`
 * without `end`) an organization may hold open at once.
 *
 * Each such stream may hold up to its backlog (`LIVE_STREAM_BACKLOG_BYTES`, 4 MiB) in the host's
 * heap for a client that does not read, and costs the host a copy of every line logged. Nothing
 * bounded their number: 300 streams on one deployment logging its 1 MiB/s grew the host by
 * 1.4 GiB, and a few thousand would end it. A slot is held until the response is done (the
 * client read it to its end or went away), not merely until the stream stops taking lines:
 * what waits in its queue is still in the host's memory.
 *
 * @module
 */
import { RequestError } from "./validate.ts";

/** Live log streams one organization may hold open at once. */
export const MAX_LIVE_STREAMS_PER_ORGANIZATION = 64;

/** Counts the live streams open per organization. */
export class LiveStreamSlots {
  readonly #open = new Map<string, number>();

  /** Creates the counter; `max` streams per organization. */
  constructor(readonly max = MAX_LIVE_STREAMS_PER_ORGANIZATION) {}

  /**
   * The stream `open()` makes, holding one of the organization's slots until it is read to its
   * end or cancelled. When all are taken, `open` is not called and a `429 tooManyLogStreams` is
   * thrown.
   */
  hold(
    organizationId: string,
    open: () => ReadableStream<Uint8Array>,
  ): ReadableStream<Uint8Array> {
    const count = this.#open.get(organizationId) ?? 0;
    if (count >= this.max) {
      throw new RequestError(
        429,
        "tooManyLogStreams",
        `This organization already has ${this.max} live log streams open; close one ` +
          "(or read past lines with a time range) and try again",
      );
    }
    this.#open.set(organizationId, count + 1);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      const left = (this.#open.get(organizationId) ?? 1) - 1;
      if (left > 0) this.#open.set(organizationId, left);
      else this.#open.delete(organizationId);
    };
    let reader: ReadableStreamDefaultReader<Uint8Array>;
    try {
      reader = open().getReader();
    } catch (error) {
      release();
      throw error;
    }
    // Pulled one chunk at a time as the server writes the response, so "done" means the
    // client has taken everything the stream queued.
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) {
            release();
            controller.close();
          } else controller.enqueue(next.value);
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }

  /** Streams open for the organization now. */
  openFor(organizationId: string): number {
    return this.#open.get(organizationId) ?? 0;
  }
}
