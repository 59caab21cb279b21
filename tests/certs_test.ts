/**
 * Certificate checks (`checkCertificate`) and the local CA, with certificates made by the
 * CA itself and by `openssl` directly.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { CertificateError, checkCertificate, LocalCa } from "../host/edge/certs.ts";

async function withCa(fn: (ca: LocalCa, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "certs_test_" });
  try {
    await fn(await LocalCa.open(join(dir, "ca")), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A self-signed certificate for `name` with a key of `newkey` (e.g. `rsa:1024`). */
async function selfSigned(dir: string, name: string, newkey = "ec"): Promise<[string, string]> {
  const args = newkey === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : [
    "-newkey",
    newkey,
  ];
  const output = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      ...args,
      "-nodes",
      "-keyout",
      "self.key",
      "-out",
      "self.crt",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-config",
      "/dev/null",
      "-addext",
      `subjectAltName=DNS:${name}`,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return [
    await Deno.readTextFile(join(dir, "self.crt")),
    await Deno.readTextFile(join(dir, "self.key")),
  ];
}

function rejects(input: Parameters<typeof checkCertificate>[0], message: RegExp): void {
  assert.throws(() => checkCertificate(input), (error) => {
    assert.ok(error instanceof CertificateError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("a certificate with its own key, covering the domain, is accepted", async () => {
  await withCa(async (ca) => {
    const issued = await ca.issue("shop.example.com", "ec");
    const checked = checkCertificate({ ...issued, domain: "shop.example.com" });
    assert.equal(checked.cipher, "ec");
    assert.match(checked.privateKey, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(checked.expiresAt, issued.expiresAt);
    // About 90 days, like Let's Encrypt.
    const days = (Date.parse(checked.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 89 && days <= 90, `${days} days`);

    const rsa = await ca.issue("shop.example.com", "rsa");
    assert.equal(checkCertificate({ ...rsa, domain: "SHOP.example.com." }).cipher, "rsa");
  });
});

Deno.test("a key that is not the certificate's is refused", async () => {
  await withCa(async (ca) => {
    const issued = await ca.issue("shop.example.com", "ec");
    const other = await ca.issue("shop.example.com", "ec");
    rejects(
      {
        certificateChain: issued.certificateChain,
        privateKey: other.privateKey,
        domain: "shop.example.com",
      },
      /private key does not match/,
    );
    rejects(
      {
        certificateChain: issued.certificateChain,
        privateKey: "not a key",
        domain: "shop.example.com",
      },
      /private key does not parse/,
    );
  });
});

Deno.test("an expired or not yet valid certificate is refused", async () => {
  await withCa(async (ca) => {
    const issued = await ca.issue("shop.example.com", "ec");
    const later = new Date(Date.parse(issued.expiresAt) + 1000);
    rejects({ ...issued, domain: "shop.example.com", now: later }, /expired on 20\d\d-/);
    const earlier = new Date(Date.now() - 86_400_000);
    rejects({ ...issued, domain: "shop.example.com", now: earlier }, /not valid before/);
  });
});

Deno.test("a certificate for another name is refused, naming what it covers", async () => {
  await withCa(async (ca) => {
    const issued = await ca.issue("shop.example.com", "ec");
    rejects(
      { ...issued, domain: "blog.example.com" },
      /does not cover blog\.example\.com: it is for shop\.example\.com/,
    );
    rejects({ ...issued, domain: "example.com" }, /does not cover/);
  });
});

Deno.test("wildcards: a wildcard certificate covers one level, a wildcard domain needs one", async () => {
  await withCa(async (ca) => {
    const wildcard = await ca.issue("*.example.net", "ec");
    assert.equal(checkCertificate({ ...wildcard, domain: "shop.example.net" }).cipher, "ec");
    assert.equal(checkCertificate({ ...wildcard, domain: "*.example.net" }).cipher, "ec");
    rejects({ ...wildcard, domain: "example.net" }, /does not cover example\.net/);
    rejects({ ...wildcard, domain: "a.b.example.net" }, /does not cover a\.b\.example\.net/);

    const single = await ca.issue("shop.example.net", "ec");
    rejects({ ...single, domain: "*.example.net" }, /does not cover \*\.example\.net/);
  });
});

Deno.test("the chain must run leaf first, each certificate followed by its issuer", async () => {
  await withCa(async (ca, dir) => {
    const issued = await ca.issue("shop.example.com", "ec");
    const root = await ca.certificate();
    const full = {
      certificateChain: issued.certificateChain + root,
      privateKey: issued.privateKey,
    };
    assert.equal(checkCertificate({ ...full, domain: "shop.example.com" }).cipher, "ec");
    rejects(
      { ...full, certificateChain: root + issued.certificateChain, domain: "shop.example.com" },
      /first certificate of the chain is a CA certificate/,
    );
    const [stranger] = await selfSigned(dir, "stranger.example.com");
    rejects(
      { ...full, certificateChain: issued.certificateChain + stranger, domain: "shop.example.com" },
      /Certificate 2 of the chain did not issue certificate 1/,
    );
    rejects(
      { ...full, certificateChain: "hello", domain: "shop.example.com" },
      /no PEM certificate/,
    );
    rejects(
      {
        ...full,
        certificateChain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        domain: "shop.example.com",
      },
      /Certificate 1 of the chain does not parse/,
    );
  });
});

Deno.test("a self-signed certificate is accepted; a small RSA key is not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "certs_test_" });
  try {
    const [cert, key] = await selfSigned(dir, "shop.example.com");
    const checked = checkCertificate({
      certificateChain: cert,
      privateKey: key,
      domain: "shop.example.com",
    });
    assert.equal(checked.cipher, "ec");
    const [weakCert, weakKey] = await selfSigned(dir, "shop.example.com", "rsa:1024");
    rejects(
      { certificateChain: weakCert, privateKey: weakKey, domain: "shop.example.com" },
      /RSA key has 1024 bits/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the local CA is created once, its key private, and signs what it issues", async () => {
  await withCa(async (ca, dir) => {
    const key = await Deno.stat(join(dir, "ca", "root.key"));
    assert.equal(key.mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(dir, "ca"))).mode! & 0o777, 0o700);
    const root = new X509Certificate(await ca.certificate());
    assert.ok(root.ca);

    const again = await LocalCa.open(join(dir, "ca"));
    assert.equal(await again.certificate(), await ca.certificate());

    const leaf = new X509Certificate(
      (await again.issue("shop.example.com", "rsa")).certificateChain,
    );
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
    assert.equal(leaf.ca, false);
    assert.equal(leaf.subjectAltName, "DNS:shop.example.com");
    // Nothing is left behind in the CA directory.
    const names = (await Array.fromAsync(Deno.readDir(join(dir, "ca")))).map((e) => e.name).sort();
    assert.deepEqual(names, ["root.crt", "root.key"]);
  });
});

Deno.test("two processes opening a new CA at once end up with the same one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "certs_test_" });
  try {
    const [a, b] = await Promise.all([
      LocalCa.open(join(dir, "ca")),
      LocalCa.open(join(dir, "ca")),
    ]);
    assert.equal(await a.certificate(), await b.certificate());
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["ca"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
