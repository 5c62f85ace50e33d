/**
 * A topic subscription's filter: which published messages a subscribed queue gets, decided by
 * the message's headers, as SNS filter policies decide by message attributes.
 *
 * A filter maps header names to the values that match, and matches a message when EVERY
 * named header matches ("and" across fields) ANY of its conditions ("or" within a field):
 *
 *     { "region": ["eu-west", "eu-north"], "tier": [{ "prefix": "gold" }], "trace": [{ "exists": true }] }
 *
 * A condition is an exact string, `{prefix}` or `{exists}` (`exists: false` matches a message
 * without that header). A single condition may stand without its array. Header names and
 * values are compared exactly (case matters), as the headers were sent. A subscription
 * without a filter gets every message.
 *
 * Pure: both the router and the catalog validate with `TopicFilterSchema`.
 */
import { z } from "zod";

/** At most this many header names in one filter, and conditions per header. */
export const MAX_FILTER_FIELDS = 16;
export const MAX_FILTER_CONDITIONS = 32;

const HEADER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const ConditionSchema = z.union([
  z.string().max(1024),
  z.object({ prefix: z.string().min(1).max(1024) }).strict(),
  z.object({ exists: z.boolean() }).strict(),
]);

const ConditionsSchema = z
  .union([ConditionSchema, z.array(ConditionSchema)])
  .transform((conditions) => (Array.isArray(conditions) ? conditions : [conditions]))
  .pipe(
    z
      .array(ConditionSchema)
      .min(1, "give at least one value, {prefix} or {exists} for the header")
      .max(MAX_FILTER_CONDITIONS, `at most ${MAX_FILTER_CONDITIONS} conditions per header`),
  );

export const TopicFilterSchema = z
  .record(
    z.string().regex(HEADER_NAME, "a header name is 1–64 of A–Z a–z 0–9 . _ -"),
    ConditionsSchema,
  )
  .refine((filter) => Object.keys(filter).length > 0, {
    message: "a filter names at least one header; leave filter out to receive every message",
  })
  .refine((filter) => Object.keys(filter).length <= MAX_FILTER_FIELDS, {
    message: `a filter names at most ${MAX_FILTER_FIELDS} headers`,
  });

export type FilterCondition = z.output<typeof ConditionSchema>;
/** A validated filter: every header's conditions as an array. */
export type TopicFilter = z.output<typeof TopicFilterSchema>;

function satisfies(condition: FilterCondition, value: string | undefined): boolean {
  if (typeof condition === "string") return value === condition;
  if ("prefix" in condition) return value?.startsWith(condition.prefix) ?? false;
  return condition.exists === (value !== undefined);
}

/** Whether a message with these headers passes the filter; no filter passes everything. */
export function matchesFilter(
  filter: TopicFilter | null | undefined,
  headers: Readonly<Record<string, string>>,
): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([name, conditions]) => {
    const value = Object.hasOwn(headers, name) ? headers[name] : undefined;
    return conditions.some((condition) => satisfies(condition, value));
  });
}
