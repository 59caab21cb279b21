/**
 * Cookies no deployment may set: those whose `Domain` attribute names the host's base domain or
 * a parent of it. Such a cookie goes to every deployment under the base domain, so one tenant
 * could set or overwrite the cookies another's users send it (cookie tossing: a planted session,
 * a forged CSRF token). On Deno Deploy `deno.dev` is on the Public Suffix List and browsers
 * ignore these cookies; here the host drops them before they leave: HAProxy makes the line `;`,
 * which browsers ignore ({@link sharedCookiePattern}), the router leaves it out
 * ({@link setsSharedCookie}).
 *
 * A cookie without `Domain`, or one naming the deployment's own name, stays: it reaches only
 * that deployment. A custom domain is the customer's own: cookies for its parents stay too.
 *
 * @module
 */

/** `baseDomain` and each of its parents, lower case: `a.example.com`, `example.com`, `com`. */
export function sharedDomains(baseDomain: string): string[] {
  const labels = baseDomain.toLowerCase().replace(/\.$/, "").split(".");
  return labels.map((_, i) => labels.slice(i).join("."));
}

/**
 * Whether the `Set-Cookie` value `line` has a `Domain` attribute naming one of `shared`. Every
 * one counts (a browser takes the last): browsers drop a leading dot and ignore case and the
 * blanks around the value.
 */
export function setsSharedCookie(line: string, shared: readonly string[]): boolean {
  // The first part is the cookie's name and value: a cookie named `domain` is not an attribute.
  for (const attribute of line.split(";").slice(1)) {
    const equals = attribute.indexOf("=");
    if (equals < 0 || attribute.slice(0, equals).trim().toLowerCase() !== "domain") continue;
    const domain = attribute.slice(equals + 1).trim().toLowerCase().replace(/^\./, "")
      .replace(/\.$/, "");
    if (shared.includes(domain)) return true;
  }
  return false;
}

/**
 * The same test as {@link setsSharedCookie} as a regular expression matching the whole line, for
 * HAProxy's `replace-header`: POSIX extended syntax (the same with or without PCRE), with no
 * blank or backslash, which HAProxy's configuration would read as its own.
 */
export function sharedCookiePattern(baseDomain: string): string {
  const blank = "[[:blank:]]*";
  const names = sharedDomains(baseDomain).map((domain) =>
    [...domain].map((c) => /[a-z]/.test(c) ? `[${c.toUpperCase()}${c}]` : `[${c}]`).join("")
  );
  return `^[^;]*;(.*;)?${blank}[Dd][Oo][Mm][Aa][Ii][Nn]${blank}=${blank}[.]?(${names.join("|")})` +
    `[.]?${blank}(;.*)?$`;
}
