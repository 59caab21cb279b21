/**
 * A CRM's "lead captured" hook: the code a CRM customer writes, and the CRM runs as a
 * deployment each time a lead comes in.
 *
 * `POST /lead` with `{name, email, company?, employees?, source?}` answers a decision:
 * `{action: "route-to-sales" | "nurture" | "reject", score, reasons}`.
 *
 * Configured by environment variables:
 * - `MIN_SCORE` (default 50): the score from which a lead goes to sales;
 * - `SALES_EMAIL_DOMAIN_BLOCKLIST`: comma-separated email domains to reject (competitors…).
 *
 * Deploy and call it (the `deploy` key of deno.json names the project and entry point):
 *
 * ```sh
 * deploy-tenant project create crm-lead-hook
 * deploy-tenant deploy examples/hooks --env MIN_SCORE=60
 * deploy-tenant invoke <deployment-id> /lead -d '{"name":"Ada","email":"ada@acme.com","employees":250}'
 * ```
 *
 * @module
 */

/** A lead as the CRM captured it. */
export interface Lead {
  name: string;
  email: string;
  company?: string;
  employees?: number;
  source?: string;
}

/** What the CRM should do with the lead. */
export interface Decision {
  action: "route-to-sales" | "nurture" | "reject";
  score: number;
  reasons: string[];
}

/** Settings read from the environment. */
export interface Settings {
  minScore: number;
  blockedDomains: string[];
}

const FREE_MAIL_DOMAINS = new Set([
  "gmail.com",
  "googlemail.com",
  "yahoo.com",
  "hotmail.com",
  "outlook.com",
  "live.com",
  "icloud.com",
  "aol.com",
  "proton.me",
  "protonmail.com",
  "gmx.com",
  "mail.com",
]);
const DISPOSABLE_DOMAINS = new Set(["mailinator.com", "guerrillamail.com", "10minutemail.com"]);
const SOURCE_POINTS: Record<string, number> = {
  "demo-request": 25,
  "referral": 20,
  "webinar": 10,
  "newsletter": 5,
  "ads": 5,
};
const EMAIL = /^[^\s@]+@([^\s@]+\.[^\s@]+)$/;

/** Scores a lead and decides what to do with it. */
export function decide(lead: Lead, settings: Settings): Decision {
  const match = EMAIL.exec(lead.email.trim().toLowerCase());
  if (!match) return { action: "reject", score: 0, reasons: ["the email address is not valid"] };
  const domain = match[1];
  if (settings.blockedDomains.includes(domain)) {
    return { action: "reject", score: 0, reasons: [`${domain} is on the blocklist`] };
  }
  if (DISPOSABLE_DOMAINS.has(domain)) {
    return { action: "reject", score: 0, reasons: [`${domain} is a disposable email domain`] };
  }

  let score = 0;
  const reasons: string[] = [];
  const add = (points: number, reason: string) => {
    score += points;
    reasons.push(`${reason} (+${points})`);
  };
  if (FREE_MAIL_DOMAINS.has(domain)) reasons.push(`${domain} is a free email provider (+0)`);
  else add(30, "business email address");
  if (lead.company?.trim()) add(15, "company given");
  const employees = lead.employees ?? 0;
  if (employees >= 1000) add(35, "1000+ employees");
  else if (employees >= 200) add(25, "200+ employees");
  else if (employees >= 50) add(15, "50+ employees");
  else if (employees >= 10) add(5, "10+ employees");
  const sourcePoints = SOURCE_POINTS[lead.source ?? ""];
  if (sourcePoints) add(sourcePoints, `source: ${lead.source}`);

  score = Math.min(score, 100);
  const action = score >= settings.minScore ? "route-to-sales" : "nurture";
  reasons.push(
    `score ${score} ${action === "route-to-sales" ? ">=" : "<"} MIN_SCORE ${settings.minScore}`,
  );
  return { action, score, reasons };
}

/** Reads the settings; a deployment may only see its own variables, so reads can fail. */
export function settingsFromEnv(): Settings {
  const minScore = Number(readEnv("MIN_SCORE") ?? 50);
  const blocklist = readEnv("SALES_EMAIL_DOMAIN_BLOCKLIST") ?? "";
  return {
    minScore: Number.isFinite(minScore) ? minScore : 50,
    blockedDomains: blocklist.split(",").map((d) => d.trim().toLowerCase()).filter(Boolean),
  };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not granted: treat as unset
  }
}

/** Validates the body of `POST /lead`; returns an error message or the lead. */
function parseLead(body: unknown): Lead | string {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return "the body must be a JSON object";
  }
  const lead = body as Record<string, unknown>;
  if (typeof lead.name !== "string" || lead.name.trim() === "") return `"name" is required`;
  if (typeof lead.email !== "string") return `"email" is required`;
  if (lead.company !== undefined && typeof lead.company !== "string") {
    return `"company" must be a string`;
  }
  if (lead.employees !== undefined && (typeof lead.employees !== "number" || lead.employees < 0)) {
    return `"employees" must be a non-negative number`;
  }
  if (lead.source !== undefined && typeof lead.source !== "string") {
    return `"source" must be a string`;
  }
  return lead as unknown as Lead;
}

const DESCRIPTION = `CRM lead hook
POST /lead {"name", "email", "company"?, "employees"?, "source"?}
  -> {"action": "route-to-sales" | "nurture" | "reject", "score", "reasons"}
`;

async function fetch(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname === "/" && request.method === "GET") {
    const { minScore } = settingsFromEnv();
    return new Response(`${DESCRIPTION}MIN_SCORE=${minScore}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (pathname !== "/lead") return Response.json({ error: "not found" }, { status: 404 });
  if (request.method !== "POST") {
    return Response.json({ error: "use POST" }, { status: 405, headers: { allow: "POST" } });
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: "the body is not valid JSON" }, { status: 400 });
  }
  const lead = parseLead(body);
  if (typeof lead === "string") return Response.json({ error: lead }, { status: 400 });
  return Response.json(decide(lead, settingsFromEnv()));
}

export default { fetch };
