/**
 * Cron schedules as `Deno.cron` takes them: five fields (minute, hour, day of month, month,
 * day of week) in UTC, each `*`, a number, a range `a-b`, a list `a,b`, a step `*\/n` or
 * `a-b/n`; months and weekdays also by name (`JAN`, `MON`); weekday 7 is Sunday. When both
 * day fields are restricted, a day matching either one runs, as in cron.
 *
 * @module
 */

/** A parsed schedule: which minute of which day it runs. */
export interface CronSchedule {
  /** Whether it runs in the minute that contains `date` (UTC). */
  matches(date: Date): boolean;
}

const FIELDS: readonly { min: number; max: number; names?: string[] }[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  {
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/** Parses `expression`; throws a `SyntaxError` naming the field that is wrong. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new SyntaxError(
      `Invalid cron schedule "${expression}": expected 5 fields (minute hour day month weekday)`,
    );
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i], expression));
  const [minutes, hours, days, months, weekdays] = sets;
  if (weekdays.has(7)) weekdays.add(0);
  const dayStar = parts[2] === "*";
  const weekdayStar = parts[4] === "*";
  return {
    matches(date) {
      if (!minutes.has(date.getUTCMinutes()) || !hours.has(date.getUTCHours())) return false;
      if (!months.has(date.getUTCMonth() + 1)) return false;
      const day = days.has(date.getUTCDate());
      const weekday = weekdays.has(date.getUTCDay());
      if (dayStar || weekdayStar) return (dayStar || day) && (weekdayStar || weekday);
      return day || weekday;
    },
  };
}

function parseField(
  text: string,
  field: { min: number; max: number; names?: string[] },
  expression: string,
): Set<number> {
  const invalid = () =>
    new SyntaxError(`Invalid cron schedule "${expression}": cannot read "${text}"`);
  const value = (token: string): number => {
    const named = field.names?.indexOf(token.toUpperCase()) ?? -1;
    const number = named >= 0 ? named + (field.min === 1 ? 1 : 0) : Number(token);
    if (!/^\w+$/.test(token) || !Number.isInteger(number)) throw invalid();
    if (number < field.min || number > field.max) throw invalid();
    return number;
  };
  const set = new Set<number>();
  for (const item of text.split(",")) {
    const [range, stepText] = item.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw invalid();
    let start = field.min;
    let end = field.max;
    if (range !== "*") {
      const [a, b] = range.split("-");
      start = value(a);
      end = b === undefined ? (stepText === undefined ? start : field.max) : value(b);
      if (end < start) throw invalid();
    }
    for (let n = start; n <= end; n += step) set.add(n);
  }
  return set;
}

/** `Deno.CronSchedule`'s object form as a cron expression. */
export function scheduleText(schedule: unknown): string {
  if (typeof schedule === "string") return schedule;
  if (typeof schedule !== "object" || schedule === null) {
    throw new TypeError("A cron schedule is a string or a Deno.CronSchedule object");
  }
  const fields = ["minute", "hour", "dayOfMonth", "month", "dayOfWeek"];
  return fields.map((name) => fieldText((schedule as Record<string, unknown>)[name])).join(" ");
}

/**
 * One field of an object schedule, converted as Deno's `Deno.cron` converts it
 * (`ext/cron/01_cron.ts`): a start alone runs to the field's end (`8/1`, `8/2`), so the result
 * never depends on the field's range; an end without a start is an error there too.
 */
function fieldText(spec: unknown): string {
  if (spec === undefined) return "*";
  if (typeof spec === "number") return String(spec);
  const { exact, start, end, every } = (spec ?? {}) as Record<string, unknown>;
  if (typeof exact === "number") return String(exact);
  if (Array.isArray(exact)) return exact.join(",");
  if (start !== undefined && end !== undefined) {
    return every === undefined ? `${start}-${end}` : `${start}-${end}/${every}`;
  }
  if (start !== undefined) return `${start}/${every ?? 1}`;
  if (end === undefined && every !== undefined) return `*/${every}`;
  throw new TypeError(`Invalid cron schedule: start=${start}, end=${end}, every=${every}`);
}
