/**
 * How many request body bytes the API holds at once. A body is read whole into the host's memory
 * before it is parsed (a deployment's, up to the body limit of 1.5 GiB), and it stays there, with
 * what it parses to, until its request is answered. One token holder sending a few such bodies at
 * once could so take the host's memory, and every tenant with it: three 300 MB bodies grew the
 * host by 2.5 GB.
 *
 * So an organization holds at most one body limit's worth at once, and the host at most twice
 * that for everyone; a request whose body would pass either is answered `429` while it arrives.
 * Within an organization the upload that began first keeps its place: a later one refused is
 * refused even when the earlier one's chunk is the one that finds the budget spent.
 * The bytes are counted as they come (a declared length is only a claim), and given back when the
 * request has been answered.
 *
 * Nothing reads a body against a deadline (a slow uplink may take minutes, and a byte now and
 * then defeats an idle timeout), so two organizations stalling near-full uploads would hold the
 * host's total for as long as they like. When the total is full, a request of an organization
 * that holds less than the one holding most makes room: that one's largest upload is given up
 * (its reader answers it `429`, which the CLI retries) and its bytes come back at once.
 *
 * @module
 */

/** What one request holds. */
interface Held {
  organizationId: string;
  bytes: number;
}

/** What {@link bodyEvicted} resolves to once a request's upload has been given up. */
export const EVICTED: unique symbol = Symbol("evicted");

/** The request body bytes held by each organization and by all of them. */
export class BodyBudget {
  readonly perOrganization: number;
  readonly total: number;
  #byOrganization = new Map<string, number>();
  #all = 0;
  // Strong: every request is released once answered (api/mod.ts), and eviction looks through them.
  #requests = new Map<Request, Held>();
  #evicted = new WeakSet<Request>();
  #onEvict = new WeakMap<Request, () => void>();

  /** A budget of `perOrganization` bytes for each organization, `total` for all of them. */
  constructor(perOrganization: number, total: number) {
    this.perOrganization = perOrganization;
    this.total = total;
  }

  /**
   * Counts `bytes` more of `request`'s body against its organization's budget and the host's;
   * `false` (nothing counted) when that would pass either.
   */
  take(request: Request, organizationId: string, bytes: number): boolean {
    if (this.#evicted.has(request)) return false;
    let held = this.#byOrganization.get(organizationId) ?? 0;
    if (held + bytes > this.perOrganization) {
      this.#giveUpNewer(request, organizationId, held + bytes - this.perOrganization);
      held = this.#byOrganization.get(organizationId) ?? 0;
      if (held + bytes > this.perOrganization) return false;
    }
    if (this.#all + bytes > this.total) this.#makeRoom(organizationId, held + bytes, bytes);
    if (this.#all + bytes > this.total) return false;
    this.#byOrganization.set(organizationId, held + bytes);
    this.#all += bytes;
    const own = this.#requests.get(request);
    if (own) own.bytes += bytes;
    else this.#requests.set(request, { organizationId, bytes });
    return true;
  }

  /**
   * Gives up `organizationId`'s uploads that began after `request`, newest first, until `over`
   * bytes came back: of two uploads that cannot both fit, the one that came second is refused,
   * whichever of the two sends the chunk that would pass the limit.
   */
  #giveUpNewer(request: Request, organizationId: string, over: number): void {
    if (!this.#requests.has(request)) return; // it is the newest
    const newer: Request[] = [];
    let seen = false;
    for (const [other, held] of this.#requests) {
      if (seen && held.organizationId === organizationId) newer.push(other);
      seen ||= other === request;
    }
    for (const victim of newer.reverse()) {
      if (over <= 0) return;
      over -= this.#requests.get(victim)!.bytes;
      this.#evict(victim);
    }
  }

  /** Gives up `victim`'s upload: its bytes come back, and its reader is told. */
  #evict(victim: Request): void {
    this.release(victim);
    this.#evicted.add(victim);
    this.#onEvict.get(victim)?.();
  }

  /**
   * Gives up the largest uploads of the organization holding most, while the total has no room
   * for `bytes` more and that organization holds more than `wanted` (what `organizationId` would).
   */
  #makeRoom(organizationId: string, wanted: number, bytes: number): void {
    while (this.#all + bytes > this.total) {
      let biggest: string | undefined;
      let most = wanted;
      for (const [holder, held] of this.#byOrganization) {
        if (holder !== organizationId && held > most) [biggest, most] = [holder, held];
      }
      if (biggest === undefined) return;
      let victim: Request | undefined;
      let largest = 0;
      for (const [request, held] of this.#requests) {
        if (held.organizationId === biggest && held.bytes > largest) {
          [victim, largest] = [request, held.bytes];
        }
      }
      if (!victim) return;
      this.#evict(victim);
    }
  }

  /** Resolves with {@link EVICTED} if `request`'s upload is given up to make room (see above). */
  evicted(request: Request): Promise<typeof EVICTED> {
    if (this.#evicted.has(request)) return Promise.resolve(EVICTED);
    return new Promise((resolve) => this.#onEvict.set(request, () => resolve(EVICTED)));
  }

  /** Gives back what `request` held: it has been answered. */
  release(request: Request): void {
    const own = this.#requests.get(request);
    if (!own) return;
    this.#requests.delete(request);
    this.#all -= own.bytes;
    const left = (this.#byOrganization.get(own.organizationId) ?? 0) - own.bytes;
    if (left > 0) this.#byOrganization.set(own.organizationId, left);
    else this.#byOrganization.delete(own.organizationId);
  }

  /** Bytes held now, by everyone. */
  get held(): number {
    return this.#all;
  }
}

const budgets = new WeakMap<Request, BodyBudget>();

/** Makes `budget` the one `request`'s body is counted against (see {@link takeBodyBytes}). */
export function countBodyAgainst(request: Request, budget: BodyBudget): void {
  budgets.set(request, budget);
}

/**
 * Resolves with {@link EVICTED} if `request`'s upload is given up to make room for a smaller
 * holder's; `undefined` for a request with no budget.
 */
export function bodyEvicted(request: Request): Promise<typeof EVICTED> | undefined {
  return budgets.get(request)?.evicted(request);
}

/**
 * Counts `bytes` more of `request`'s body for `organizationId`; `false` when its budget is spent.
 * A request with no budget (a route served outside the API app) always may.
 */
export function takeBodyBytes(request: Request, organizationId: string, bytes: number): boolean {
  return budgets.get(request)?.take(request, organizationId, bytes) ?? true;
}
