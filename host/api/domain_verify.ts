/**
 * Proving control of a custom domain, as Deno Deploy does: the organization creates an
 * `_acme-challenge` CNAME naming its domain's token, and A/AAAA records pointing at the host;
 * {@link DomainVerifier.verify} looks them up over DNS (`Deno.resolveDns`, against the
 * system resolver or a configured one).
 *
 * For development, names under a trusted suffix (`--trust-domain test`) are verified without
 * DNS: anyone who can reach the host's API may claim them, so trust only suffixes nobody
 * owns on the Internet (`test`, `localhost`, `internal`…).
 *
 * @module
 */
import type { DnsRecord } from "../../lib/types.ts";

/** The addresses the A and AAAA records must point at. */
export interface HostAddresses {
  ipv4: string[];
  ipv6: string[];
}

/** Options of {@link DomainVerifier}. */
export interface DomainVerifierOptions {
  /** The host's base domain: CNAMEs point at `<token>._acme.<baseDomain>.`. */
  baseDomain: string;
  /** What A/AAAA records must point at (see {@link hostAddresses}). */
  addresses: HostAddresses;
  /** Suffixes whose names are verified without DNS, e.g. `["test", "localhost"]`. */
  trustDomains?: string[];
  /** The DNS server to ask; default: the system's (`/etc/resolv.conf`). */
  resolver?: { ipAddr: string; port?: number };
  /** Time limit of each lookup, ms. Default 5000. */
  timeoutMs?: number;
}

/** The outcome of {@link DomainVerifier.verify}. */
export type VerifyResult =
  | { verified: true; how: "dns" | "trusted" }
  | { verified: false; problems: string[] };

const DEFAULT_TIMEOUT_MS = 5_000;

/** Computes a domain's DNS records and checks them. */
export class DomainVerifier {
  readonly #options: DomainVerifierOptions;
  readonly #trusted: string[];

  /** Creates a verifier. */
  constructor(options: DomainVerifierOptions) {
    this.#options = options;
    this.#trusted = (options.trustDomains ?? []).map((suffix) =>
      suffix.toLowerCase().replace(/^\*?\.|\.$/g, "")
    ).filter(Boolean);
  }

  /** The suffixes verified without DNS. */
  get trustDomains(): readonly string[] {
    return this.#trusted;
  }

  /**
   * The records to create for `domain` (names fully qualified): A and AAAA pointing at the
   * host, and `_acme-challenge.<domain>` CNAME `<token>._acme.<baseDomain>.`. A wildcard's
   * challenge sits on the name below the `*`.
   */
  dnsRecords(domain: string, token: string): DnsRecord[] {
    const { ipv4, ipv6 } = this.#options.addresses;
    return [
      ...ipv4.map((content) => ({ type: "A", name: domain, content })),
      ...ipv6.map((content) => ({ type: "AAAA", name: domain, content })),
      { type: "CNAME", name: challengeName(domain), content: this.#challengeTarget(token) },
    ];
  }

  /** Whether `domain` lies under a trusted suffix. */
  isTrusted(domain: string): boolean {
    const name = domain.replace(/^\*\./, "");
    return this.#trusted.some((suffix) => name === suffix || name.endsWith(`.${suffix}`));
  }

  /**
   * Checks `domain`: under a trusted suffix it passes at once; otherwise the challenge CNAME
   * must name `token`, and an A or AAAA record must point at the host (for a wildcard, at a
   * name under it). The problems say what was expected and what DNS answered.
   */
  async verify(domain: string, token: string): Promise<VerifyResult> {
    if (this.isTrusted(domain)) return { verified: true, how: "trusted" };
    const problems: string[] = [];

    const challenge = challengeName(domain);
    const expected = this.#challengeTarget(token);
    const cname = await this.#lookup(challenge, "CNAME");
    if (typeof cname === "string") problems.push(`${challenge} CNAME: ${cname}`);
    else if (!cname.some((target) => sameName(target, expected))) {
      problems.push(
        `${challenge} CNAME should be ${expected}, ` +
          (cname.length ? `found ${cname.join(", ")}` : "found none"),
      );
    }

    // A name under a wildcard shows where the wildcard's records point.
    const probe = domain.startsWith("*.") ? `${token}-probe${domain.slice(1)}` : domain;
    const { ipv4, ipv6 } = this.#options.addresses;
    const [a, aaaa] = await Promise.all([
      ipv4.length ? this.#lookup(probe, "A") : Promise.resolve([]),
      ipv6.length ? this.#lookup(probe, "AAAA") : Promise.resolve([]),
    ]);
    const pointsHere = (Array.isArray(a) && a.some((ip) => ipv4.includes(ip))) ||
      (Array.isArray(aaaa) && aaaa.some((ip) => sameIpv6(ip, ipv6)));
    if (!pointsHere) {
      const found = [a, aaaa].flatMap((answer) => Array.isArray(answer) ? answer : []);
      const wanted = [...ipv4, ...ipv6].join(" or ");
      problems.push(
        `${domain} A/AAAA should point at ${wanted}, ` +
          (found.length ? `found ${found.join(", ")}` : describeFailures(a, aaaa)),
      );
    }
    return problems.length === 0 ? { verified: true, how: "dns" } : { verified: false, problems };
  }

  #challengeTarget(token: string): string {
    return `${token}._acme.${this.#options.baseDomain}.`;
  }

  /** The answers, `[]` when the name has none, or a string saying why the lookup failed. */
  async #lookup(name: string, type: "A" | "AAAA" | "CNAME"): Promise<string[] | string> {
    const signal = AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      const nameServer = this.#options.resolver;
      return await Deno.resolveDns(name, type, nameServer ? { nameServer, signal } : { signal });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      if (signal.aborted) return "the DNS lookup timed out";
      return `the DNS lookup failed (${(error as Error).message})`;
    }
  }
}

/**
 * Where A/AAAA records should point for a host listening on `hostname`: loopback for a
 * loopback listener, the address itself for a specific one, and this machine's non-loopback
 * addresses for a wildcard listener (`0.0.0.0`, `::`).
 */
export function hostAddresses(hostname: string): HostAddresses {
  const loopback = { ipv4: ["127.0.0.1"], ipv6: ["::1"] };
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "0.0.0.0" || host === "::") {
    const interfaces = Deno.networkInterfaces().filter((i) => !isLoopbackIp(i.address));
    const ipv4 = interfaces.filter((i) => i.family === "IPv4").map((i) => i.address);
    const ipv6 = interfaces.filter((i) => i.family === "IPv6" && !/^fe80:/i.test(i.address))
      .map((i) => i.address);
    return ipv4.length + ipv6.length > 0
      ? { ipv4: ipv4.slice(0, 1), ipv6: ipv6.slice(0, 1) }
      : loopback;
  }
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
    return isLoopbackIp(host) ? loopback : { ipv4: [host], ipv6: [] };
  }
  if (host.includes(":")) return isLoopbackIp(host) ? loopback : { ipv4: [], ipv6: [host] };
  return loopback;
}

/** `_acme-challenge.<domain>`; a wildcard's challenge is on the name below the `*`. */
function challengeName(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, "")}`;
}

function sameName(a: string, b: string): boolean {
  const normal = (name: string) => name.toLowerCase().replace(/\.$/, "");
  return normal(a) === normal(b);
}

function sameIpv6(ip: string, wanted: string[]): boolean {
  const normal = (address: string) => new URL(`http://[${address}]/`).hostname;
  try {
    return wanted.some((address) => normal(address) === normal(ip));
  } catch {
    return false;
  }
}

function isLoopbackIp(address: string): boolean {
  return address === "::1" || /^127\./.test(address);
}

function describeFailures(...answers: (string[] | string)[]): string {
  const failures = answers.filter((answer) => typeof answer === "string");
  return failures.length ? failures.join("; ") : "found none";
}
