/**
 * TLS certificates of custom domains: checking an uploaded chain and key
 * ({@link checkCertificate}), and the host's own certificate authority ({@link LocalCa}),
 * which issues certificates where Deno Deploy would ask Let's Encrypt.
 *
 * Parsing and checking use `node:crypto`. Issuing uses the `openssl` command (Debian's
 * `openssl` package): `node:crypto` can check certificates but not sign them.
 *
 * @module
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { join } from "node:path";

/** An uploaded certificate that passed {@link checkCertificate}, ready to store and serve. */
export interface CheckedCertificate {
  /** The key type. */
  cipher: "rsa" | "ec";
  /** The chain as PEM blocks, the leaf first, nothing else. */
  certificateChain: string;
  /** The key as unencrypted PKCS#8 PEM. */
  privateKey: string;
  /** When the leaf expires, RFC 3339. */
  expiresAt: string;
}

/** A certificate or key that cannot serve the domain; the message says why, for users. */
export class CertificateError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const MIN_RSA_BITS = 2048;

/**
 * Checks that a PEM chain and key can serve `domain`: every certificate parses, the chain
 * runs leaf first with each certificate followed by its issuer, the key is RSA (≥ 2048 bits)
 * or EC and matches the leaf, the leaf covers the domain (a wildcard domain needs the same
 * wildcard), and no certificate is expired or not yet valid at `now`.
 *
 * Whether the chain ends at a root the world trusts is not checked: the host cannot know
 * which roots its users' clients trust.
 *
 * @throws {CertificateError} naming the first problem.
 */
export function checkCertificate(input: {
  certificateChain: string;
  privateKey: string;
  domain: string;
  now?: Date;
}): CheckedCertificate {
  const now = input.now ?? new Date();
  const blocks = input.certificateChain.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new CertificateError(
      "The certificate chain holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
    );
  }
  const chain = blocks.map((pem, index) => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new CertificateError(`Certificate ${index + 1} of the chain does not parse`);
    }
  });
  const leaf = chain[0];
  if (leaf.ca) {
    throw new CertificateError(
      "The first certificate of the chain is a CA certificate: put the domain's own certificate first",
    );
  }
  for (let i = 1; i < chain.length; i++) {
    if (!chain[i - 1].checkIssued(chain[i]) || !chain[i - 1].verify(chain[i].publicKey)) {
      throw new CertificateError(
        `Certificate ${i + 1} of the chain did not issue certificate ${i}: ` +
          "give the domain's certificate first, each followed by its issuer",
      );
    }
  }
  chain.forEach((certificate, index) => {
    const which = index === 0 ? "The certificate" : `Certificate ${index + 1} of the chain`;
    if (now < new Date(certificate.validFrom)) {
      throw new CertificateError(`${which} is not valid before ${isoDate(certificate.validFrom)}`);
    }
    if (now >= new Date(certificate.validTo)) {
      throw new CertificateError(`${which} expired on ${isoDate(certificate.validTo)}`);
    }
  });

  const key = parsePrivateKey(input.privateKey);
  const cipher = key.asymmetricKeyType;
  if (cipher !== "rsa" && cipher !== "ec") {
    throw new CertificateError(
      `The private key is ${
        cipher ?? "of an unknown type"
      }: use an RSA (2048 bits or more) or EC key`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? MIN_RSA_BITS;
  if (cipher === "rsa" && bits < MIN_RSA_BITS) {
    throw new CertificateError(`The RSA key has ${bits} bits: use at least ${MIN_RSA_BITS}`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError("The private key does not match the certificate");
  }
  if (!certificateCovers(leaf, input.domain)) {
    const names = dnsNames(leaf);
    throw new CertificateError(
      `The certificate does not cover ${input.domain}: it is for ` +
        (names.length > 0 ? names.join(", ") : "no DNS name (it has no subjectAltName)"),
    );
  }
  return {
    cipher,
    certificateChain: blocks.join("\n") + "\n",
    privateKey: String(key.export({ type: "pkcs8", format: "pem" })),
    expiresAt: rfc3339(leaf.validTo),
  };
}

/** The DNS names of a certificate's subjectAltName, lower-case. */
export function dnsNames(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? "").split(/,\s*/)
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4).toLowerCase());
}

/**
 * Whether the certificate serves `domain`. A plain name is served by the same name or by a
 * wildcard one level up (RFC 6125: `*.example.net` serves `a.example.net`, not
 * `a.b.example.net` nor `example.net`); a wildcard domain needs that very wildcard.
 *
 * (`X509Certificate.checkHost` would do for plain names, but Deno 2.9's does not match
 * wildcard certificates, so the names are compared here.)
 */
export function certificateCovers(certificate: X509Certificate, domain: string): boolean {
  const name = domain.toLowerCase().replace(/\.$/, "");
  return dnsNames(certificate).some((pattern) => {
    if (pattern === name) return true;
    if (!pattern.startsWith("*.") || name.startsWith("*.")) return false;
    const suffix = pattern.slice(1);
    const label = name.slice(0, -suffix.length);
    return name.endsWith(suffix) && label.length > 0 && !label.includes(".");
  });
}

function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new CertificateError(
      "The private key does not parse: give an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
    );
  }
}

function isoDate(text: string): string {
  return new Date(text).toISOString();
}

/** A certificate date as the API writes times: RFC 3339 with microseconds. */
function rfc3339(text: string): string {
  return new Date(text).toISOString().replace(/Z$/, "000Z");
}

// ---- the local certificate authority ----

/** A key and certificate chain issued by the {@link LocalCa}. */
export interface IssuedCertificate {
  cipher: "rsa" | "ec";
  certificateChain: string;
  privateKey: string;
  expiresAt: string;
}

/** How long issued certificates last: Let's Encrypt's 90 days. */
const LEAF_DAYS = 90;
const ROOT_DAYS = 3650;

/**
 * The host's certificate authority: a root key and certificate in `<dataDir>/ca/`
 * (`root.key` mode 0600, `root.crt`), created once, and certificates it issues for verified
 * domains. Users trust `root.crt` (`deploy-tenant host ca` prints its path) to reach the
 * host's HTTPS port without warnings.
 *
 * Trusting the root means trusting anything it signs: the key never leaves the data dir,
 * which only its owner can read.
 */
export class LocalCa {
  /** The CA's directory. */
  readonly dir: string;
  /** The root certificate users trust (PEM). */
  readonly certificatePath: string;
  readonly #keyPath: string;
  readonly #openssl: string;

  private constructor(dir: string, openssl: string) {
    this.dir = dir;
    this.certificatePath = join(dir, "root.crt");
    this.#keyPath = join(dir, "root.key");
    this.#openssl = openssl;
  }

  /**
   * Opens the CA in `dir`, creating it first if it does not exist. Creation happens in a
   * temporary directory renamed into place, so two processes racing both end up with the
   * same CA and nobody sees a half-written one.
   *
   * @throws {CertificateError} when `openssl` is missing or fails.
   */
  static async open(dir: string, options: { openssl?: string } = {}): Promise<LocalCa> {
    const ca = new LocalCa(dir, options.openssl ?? "openssl");
    if (await exists(ca.certificatePath)) return ca;
    const temp = `${dir}.${crypto.randomUUID()}.tmp`;
    await Deno.mkdir(temp, { recursive: true, mode: 0o700 });
    try {
      const suffix = crypto.randomUUID().slice(0, 8);
      await ca.#run(temp, [
        "req",
        "-x509",
        "-new",
        ...keyArguments("ec"),
        "-keyout",
        "root.key",
        "-out",
        "root.crt",
        "-days",
        String(ROOT_DAYS),
        "-subj",
        `/O=deploy-tenant/CN=deploy-tenant local CA ${suffix}`,
        "-config",
        "/dev/null",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
      ]);
      await Deno.chmod(join(temp, "root.key"), 0o600);
      await Deno.chmod(join(temp, "root.crt"), 0o644);
      await Deno.chmod(temp, 0o700);
      await Deno.rename(temp, dir);
    } catch (error) {
      await Deno.remove(temp, { recursive: true }).catch(() => {});
      // Another process created it meanwhile: use theirs.
      if (await exists(ca.certificatePath)) return ca;
      throw error;
    }
    return ca;
  }

  /** The root certificate, PEM. */
  async certificate(): Promise<string> {
    return await Deno.readTextFile(this.certificatePath);
  }

  /**
   * Issues a server certificate for `domain` (a wildcard is issued as such) with a fresh
   * key of type `cipher`, valid for 90 days.
   *
   * @throws {CertificateError} when `openssl` is missing or fails.
   */
  async issue(domain: string, cipher: "rsa" | "ec"): Promise<IssuedCertificate> {
    const work = join(this.dir, `issue-${crypto.randomUUID()}`);
    await Deno.mkdir(work, { mode: 0o700 });
    try {
      // A CN holds at most 64 characters; clients read the subjectAltName anyway.
      const subject = domain.length <= 64 ? `/CN=${domain}` : "/O=deploy-tenant";
      await this.#run(work, [
        "req",
        "-x509",
        "-new",
        ...keyArguments(cipher),
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.crt",
        "-CA",
        this.certificatePath,
        "-CAkey",
        this.#keyPath,
        "-days",
        String(LEAF_DAYS),
        "-subj",
        subject,
        "-config",
        "/dev/null",
        "-addext",
        `subjectAltName=DNS:${domain}`,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        `keyUsage=critical,${
          cipher === "rsa" ? "digitalSignature,keyEncipherment" : "digitalSignature"
        }`,
        "-addext",
        "extendedKeyUsage=serverAuth",
      ]);
      const leaf = await Deno.readTextFile(join(work, "leaf.crt"));
      const key = await Deno.readTextFile(join(work, "leaf.key"));
      return {
        cipher,
        certificateChain: leaf,
        privateKey: key,
        expiresAt: rfc3339(new X509Certificate(leaf).validTo),
      };
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  }

  async #run(cwd: string, args: string[]): Promise<void> {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(this.#openssl, {
        args,
        cwd,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new CertificateError(
          "The local certificate authority needs the openssl command: install it " +
            "(e.g. apt-get install openssl)",
        );
      }
      throw error;
    }
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3);
      throw new CertificateError(`openssl ${args[0]} failed: ${stderr.join(" ")}`);
    }
  }
}

/** The CA's directory in a host data dir. */
export function caDir(dataDir: string): string {
  return join(dataDir, "ca");
}

function keyArguments(cipher: "rsa" | "ec"): string[] {
  return cipher === "rsa"
    ? ["-newkey", "rsa:2048", "-nodes"]
    : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
