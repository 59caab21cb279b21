/**
 * How many request body bytes the API holds at once. A body is read whole into the host's memory
 * before it is parsed (a deployment's, up to the body limit of 1.5 GiB), and it stays there, with
 * what it parses to, until its request is answered. One token holder sending a few such bodies at
 * once could so take the host's memory, and every tenant with it: three 300 MB bodies grew the
 * host by 2.5 GB.
 *
 * So an organization holds at most one body limit's worth at once, and the host at most twice
 * that for everyone; a request whose body would pass either is answered `429` while it arrives.
 * The bytes are counted as they come (a declared length is only a claim), and given back when the
 * request has been answered.
 *
 * @module
 */

/** What one request holds. */
interface Held {
  organizationId: string;
  bytes: number;
}

/** The request body bytes held by each organization and by all of them. */
export class BodyBudget {
  readonly perOrganization: number;
  readonly total: number;
  #byOrganization = new Map<string, number>();
  #all = 0;
  #requests = new WeakMap<Request, Held>();

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
    const held = this.#byOrganization.get(organizationId) ?? 0;
    if (held + bytes > this.perOrganization || this.#all + bytes > this.total) return false;
    this.#byOrganization.set(organizationId, held + bytes);
    this.#all += bytes;
    const own = this.#requests.get(request);
    if (own) own.bytes += bytes;
    else this.#requests.set(request, { organizationId, bytes });
    return true;
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
 * Counts `bytes` more of `request`'s body for `organizationId`; `false` when its budget is spent.
 * A request with no budget (a route served outside the API app) always may.
 */
export function takeBodyBytes(request: Request, organizationId: string, bytes: number): boolean {
  return budgets.get(request)?.take(request, organizationId, bytes) ?? true;
}
