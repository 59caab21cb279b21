/**
 * Host names as the store keys them: lower case without a trailing dot, and the wildcard one
 * level up that may cover a name.
 *
 * @module
 */

/** `Shop.Example.NET.` → `shop.example.net`. */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.$/, "");
}

/** `shop.example.net` → `*.example.net`; `undefined` for a name with fewer than 3 labels. */
export function wildcardParent(name: string): string | undefined {
  const labels = name.split(".");
  return labels.length >= 3 ? `*.${labels.slice(1).join(".")}` : undefined;
}
