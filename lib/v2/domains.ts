/**
 * v2 domains: hostnames registered to the organization, their DNS verification and their TLS
 * certificates. A domain is bound to a revision with `V2Revisions.attachDomains` or in the
 * deploy request (`production.domains`).
 *
 * @module
 */
import type { HttpClient } from "../http.ts";
import { listQuery, segment } from "./query.ts";
import type {
  CreateDomainRequest,
  Domain,
  DomainCertificates,
  ListDomainsOptions,
  UploadCertificateRequest,
} from "./types.ts";

/** `/domains/…`; `{domain}` is the UUID or the hostname. */
export class V2Domains {
  #http: HttpClient;

  /** Uses `http` for every request. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** `GET /domains`, every page. */
  async *list(options: ListDomainsOptions = {}): AsyncGenerator<Domain> {
    yield* this.#http.paginate<Domain>("/domains", listQuery(options, { search: options.search }));
  }

  /**
   * `POST /domains`: registers a bare hostname (`kind` chooses apex, wildcard or both) and
   * answers with the DNS record sets to publish (`dns_records`, one set to choose).
   */
  async create(request: CreateDomainRequest): Promise<Domain> {
    return await this.#http.json("POST", "/domains", { json: request });
  }

  /** `GET /domains/{domain}`; a missing one is an `ApiError` 404. */
  async get(idOrName: string): Promise<Domain> {
    return await this.#http.json("GET", `/domains/${segment(idOrName)}`);
  }

  /** `DELETE /domains/{domain}` (204): the domain and all its bindings. */
  async delete(idOrName: string): Promise<void> {
    await this.#http.json("DELETE", `/domains/${segment(idOrName)}`);
  }

  /** `POST /domains/{domain}/verify`: re-checks DNS and returns the refreshed domain. */
  async verify(idOrName: string): Promise<Domain> {
    return await this.#http.json("POST", `/domains/${segment(idOrName)}/verify`);
  }

  /** `POST /domains/{domain}/certificates`: uploads a PEM chain and key. */
  async uploadCertificate(idOrName: string, request: UploadCertificateRequest): Promise<Domain> {
    return await this.#http.json("POST", `/domains/${segment(idOrName)}/certificates`, {
      json: request,
    });
  }

  /** `GET /domains/{domain}/certificates`: the certificates and the provisioning status. */
  async certificates(idOrName: string): Promise<DomainCertificates> {
    return await this.#http.json("GET", `/domains/${segment(idOrName)}/certificates`);
  }

  /**
   * `POST /domains/{domain}/certificates/provision` (202): starts ACME provisioning, which
   * takes up to about 90 s; poll {@link certificates} for `provisioning_status`.
   */
  async provisionCertificate(idOrName: string): Promise<{ accepted: boolean }> {
    const path = `/domains/${segment(idOrName)}/certificates/provision`;
    return await this.#http.json("POST", path) ?? { accepted: true };
  }
}
