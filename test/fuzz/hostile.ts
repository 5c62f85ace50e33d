/**
 * Generators of hostile requests for the fuzz tests: every route, with wrong types, missing
 * and unknown fields, huge and deeply nested JSON, odd unicode and control characters,
 * wrong content types, truncated bodies, forged and stale receipts, bad cursors and bad
 * query strings. Most of what they make is invalid; what happens to be valid is fine too.
 */
import fc from "fast-check";

export interface Route {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /**
   * `:q` is the queue, `:id` a dead letter or key id, `:t` a topic, `:name` a schedule, `:key`
   * a message key.
   */
  path: string;
  /** Field names the route reads from its body or query, to aim wrong values at. */
  fields: string[];
  /** A 2xx may change state (so the fixture is rebuilt after one). */
  mutates: boolean;
}

export const ROUTES: Route[] = [
  {
    method: "PUT",
    path: "/v1/queues/:q",
    fields: [
      "partitions",
      "ordering",
      "visibilityTimeout",
      "maxAttempts",
      "retry",
      "backlog",
      "keyLimits",
      "maxInFlight",
      "fairness",
    ],
    mutates: true,
  },
  { method: "GET", path: "/v1/queues", fields: [], mutates: false },
  { method: "GET", path: "/v1/queues/:q", fields: [], mutates: false },
  { method: "DELETE", path: "/v1/queues/:q", fields: [], mutates: true },
  {
    method: "POST",
    path: "/v1/queues/:q/messages",
    fields: ["messages", "body", "key", "dedupId", "delaySeconds", "priority", "headers"],
    mutates: true,
  },
  {
    method: "POST",
    path: "/v1/queues/:q/receive",
    fields: ["max", "visibilityTimeout", "wait", "partition"],
    mutates: true,
  },
  { method: "POST", path: "/v1/queues/:q/ack", fields: ["receipts"], mutates: true },
  {
    method: "POST",
    path: "/v1/queues/:q/nack",
    fields: ["receipts", "delaySeconds", "reason"],
    mutates: true,
  },
  {
    method: "POST",
    path: "/v1/queues/:q/extend",
    fields: ["receipts", "visibilityTimeout"],
    mutates: true,
  },
  { method: "POST", path: "/v1/queues/:q/purge", fields: [], mutates: true },
  { method: "POST", path: "/v1/queues/:q/pause", fields: ["key", "until"], mutates: true },
  { method: "POST", path: "/v1/queues/:q/resume", fields: ["key"], mutates: true },
  { method: "GET", path: "/v1/queues/:q/keys/:key", fields: [], mutates: false },
  {
    method: "PUT",
    path: "/v1/queues/:q/keys/:key",
    fields: ["rate", "burst", "concurrency"],
    mutates: true,
  },
  {
    method: "GET",
    path: "/v1/queues/:q/subscribe",
    fields: ["visibilityTimeout"],
    mutates: true,
  },
  {
    method: "GET",
    path: "/v1/queues/:q/messages",
    fields: ["limit", "after", "partition"],
    mutates: false,
  },
  {
    method: "GET",
    path: "/v1/queues/:q/dlq",
    fields: ["limit", "cursor", "reason", "q", "since", "until", "cluster", "key"],
    mutates: false,
  },
  { method: "GET", path: "/v1/queues/:q/dlq/clusters", fields: ["limit"], mutates: false },
  { method: "GET", path: "/v1/queues/:q/dlq/redrive-jobs", fields: [], mutates: false },
  {
    method: "POST",
    path: "/v1/queues/:q/dlq/redrive-jobs",
    fields: ["filter", "target", "rate", "canary"],
    mutates: true,
  },
  { method: "GET", path: "/v1/queues/:q/dlq/redrive-jobs/:id", fields: [], mutates: false },
  { method: "POST", path: "/v1/queues/:q/dlq/redrive-jobs/:id/cancel", fields: [], mutates: true },
  {
    method: "POST",
    path: "/v1/queues/:q/dlq/:id/edit",
    fields: ["body", "contentType", "headers"],
    mutates: true,
  },
  { method: "GET", path: "/v1/queues/:q/history", fields: ["from", "to", "step"], mutates: false },
  { method: "GET", path: "/v1/queues/:q/dlq/:id", fields: [], mutates: false },
  {
    method: "POST",
    path: "/v1/queues/:q/dlq/redrive",
    fields: ["ids", "all", "target"],
    mutates: true,
  },
  { method: "DELETE", path: "/v1/queues/:q/dlq/:id", fields: [], mutates: true },
  { method: "POST", path: "/v1/queues/:q/dlq/purge", fields: ["cluster"], mutates: true },
  {
    method: "POST",
    path: "/v1/keys",
    fields: ["name", "scopes", "queues", "origins"],
    mutates: true,
  },
  { method: "GET", path: "/v1/keys", fields: [], mutates: false },
  { method: "DELETE", path: "/v1/keys/:id", fields: [], mutates: true },
  {
    method: "PUT",
    path: "/v1/topics/:t",
    fields: ["subscriptions", "queue", "filter"],
    mutates: true,
  },
  { method: "GET", path: "/v1/topics", fields: [], mutates: false },
  { method: "GET", path: "/v1/topics/:t", fields: [], mutates: false },
  { method: "DELETE", path: "/v1/topics/:t", fields: [], mutates: true },
  {
    method: "POST",
    path: "/v1/topics/:t/messages",
    fields: ["messages", "body", "key", "dedupId", "headers"],
    mutates: true,
  },
  {
    method: "PUT",
    path: "/v1/schedules/:name",
    fields: ["queue", "message", "paused", "cron", "timezone", "every", "start", "end"],
    mutates: true,
  },
  { method: "GET", path: "/v1/schedules", fields: [], mutates: false },
  { method: "GET", path: "/v1/schedules/:name", fields: [], mutates: false },
  { method: "DELETE", path: "/v1/schedules/:name", fields: [], mutates: true },
  { method: "POST", path: "/v1/schedules/:name/pause", fields: [], mutates: true },
  { method: "POST", path: "/v1/schedules/:name/resume", fields: [], mutates: true },
  { method: "GET", path: "/health", fields: [], mutates: false },
  { method: "GET", path: "/v1/openapi.json", fields: [], mutates: false },
  { method: "GET", path: "/metrics", fields: [], mutates: false },
];

/** Strings made of any UTF-16 code units: lone surrogates, NUL and control characters too. */
export const codeUnits = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 })
  .map((units) => String.fromCharCode(...units));

/** Strings a person would not expect in a name or a key. */
export const oddString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  codeUnits,
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "a\udfffb",
    "\u202e\u200b\ufeff",
    "..",
    "../../etc/passwd",
    "%00",
    "*",
    "__proto__",
    "constructor",
    "🦀".repeat(100),
    "x".repeat(300),
  ),
);

/**
 * Percent-encodes every UTF-8 byte (a lone surrogate becomes U+FFFD's bytes), so any string
 * fits in a path or a query; encodeURIComponent throws on lone surrogates.
 */
export function percentEncode(text: string): string {
  return Array.from(
    new TextEncoder().encode(text),
    (byte) => `%${byte.toString(16).padStart(2, "0")}`,
  ).join("");
}

/** Path segments that decode to trouble: bad escapes, encoded surrogates, NUL, dot segments. */
export const oddSegment = fc.oneof(
  oddString.map(percentEncode),
  fc.constantFrom(
    "%zz",
    "%",
    "%ed%a0%80",
    "%00",
    "%2e%2e",
    "%c0%af",
    "a".repeat(81),
    "x.fifo.fifo",
  ),
);

/** Numbers at and past every edge: negative, fractional, huge, tiny. */
export const oddNumber = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-1, 0, 0.5, 100, 101, 43_201, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, 5e-324),
);

/** Any JSON value, or one of the wrong types a field might be given. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  oddString,
  oddNumber,
  fc.constantFrom(null, true, false, [], {}, [null], { "": 1 }),
);

/** An object with some of the route's own fields set to wrong values, and maybe strangers. */
export function shapedLike(fields: string[]): fc.Arbitrary<Record<string, unknown>> {
  const named =
    fields.length === 0
      ? fc.constant({})
      : fc.dictionary(fc.constantFrom(...fields), wrongValue, { maxKeys: fields.length });
  return fc
    .tuple(named, fc.dictionary(oddString, wrongValue, { maxKeys: 2 }))
    .map(([own, strangers]) => ({ ...strangers, ...own }));
}

/** Text so deeply nested that a recursive reader would overflow its stack. */
export const deepJson = fc
  .tuple(fc.integer({ min: 1_000, max: 400_000 }), fc.constantFrom("array", "object", "message"))
  .map(([depth, shape]) => {
    if (shape === "array") return `${"[".repeat(depth)}${"]".repeat(depth)}`;
    if (shape === "object") return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    return `{"body":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  });

/** Bytes that are not what the content type says, or not UTF-8 at all. */
const oddBytes = fc.uint8Array({ maxLength: 64 });

export const CONTENT_TYPES = [
  "application/json",
  "APPLICATION/JSON; charset=utf-8",
  "application/json; charset=utf-16",
  "application/problem+json",
  "text/plain",
  "text/html; charset=latin1",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "",
  ";;",
];

export type BodySpec =
  | { kind: "none" }
  | { kind: "text"; text: string; contentType: string }
  | { kind: "bytes"; bytes: Uint8Array; contentType: string };

/** A body for a route: shaped JSON, any JSON, truncated JSON, deep JSON, huge strings, bytes. */
export function hostileBody(route: Route): fc.Arbitrary<BodySpec> {
  const json = (value: fc.Arbitrary<unknown>) =>
    value.map(
      (v): BodySpec => ({
        kind: "text",
        text: JSON.stringify(v) ?? "null",
        contentType: "application/json",
      }),
    );
  return fc.oneof(
    { weight: 4, arbitrary: json(shapedLike(route.fields)) },
    { weight: 2, arbitrary: json(wrongValue) },
    {
      weight: 1,
      arbitrary: fc.tuple(shapedLike(route.fields), fc.nat()).map(([value, cut]): BodySpec => {
        const text = JSON.stringify(value);
        return {
          kind: "text",
          text: text.slice(0, cut % Math.max(1, text.length)),
          contentType: "application/json",
        };
      }),
    },
    {
      weight: 1,
      arbitrary: deepJson.map(
        (text): BodySpec => ({ kind: "text", text, contentType: "application/json" }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...route.fields, "body", "name"),
          fc.integer({ min: 10_000, max: 600_000 }),
        )
        .map(
          ([field, length]): BodySpec => ({
            kind: "text",
            text: JSON.stringify({ [field]: "\u00e9".repeat(length) }),
            contentType: "application/json",
          }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(
            oddString,
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          fc.constantFrom(...CONTENT_TYPES),
        )
        .map(([text, contentType]): BodySpec => ({ kind: "text", text, contentType })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(oddBytes, fc.constantFrom(...CONTENT_TYPES))
        .map(([bytes, contentType]): BodySpec => ({ kind: "bytes", bytes, contentType })),
    },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: "none" }) },
  );
}

/** A query string: the route's own names and strangers, with odd and repeated values. */
export function hostileQuery(route: Route): fc.Arbitrary<string> {
  const name = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...route.fields, "limit", "cursor") },
    { weight: 1, arbitrary: oddString },
  );
  const value = fc.oneof(
    oddString,
    oddNumber.map(String),
    fc.constantFrom("", "1", "1e3", "0x10", "Infinity", "-0"),
  );
  return fc
    .array(fc.tuple(name, value), { maxLength: 4 })
    .map((pairs) => (pairs.length === 0 ? "" : `?${new URLSearchParams(pairs).toString()}`));
}

/** Header values that a fetch may carry (Latin-1 without CR/LF), odd all the same. */
const headerValue = fc.oneof(
  fc.string({ unit: "grapheme-ascii", maxLength: 40 }),
  fc.constantFrom(
    "",
    "-1",
    "1e9",
    "NaN",
    "5 5",
    "0x10",
    "websocket",
    "sluice.v1",
    "x".repeat(2_000),
  ),
);

export const hostileHeaders = fc.dictionary(
  fc.constantFrom(
    "sluice-key",
    "sluice-dedup-id",
    "sluice-delay",
    "sluice-priority",
    "sluice-other",
    "origin",
    "upgrade",
    "sec-websocket-protocol",
    "x-amz-target",
  ),
  headerValue,
  { maxKeys: 3 },
);

/** Receipts this service never issued, or issued for leases that are over. */
export function forgedReceipt(stale: string[]): fc.Arbitrary<string> {
  const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
  return fc.oneof(
    oddString,
    fc.base64String({ maxLength: 80 }),
    fc
      .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 2 ** 40 }), hex32)
      .map(([partition, seq, token]) => btoa(`${partition}.${seq}.${token}`).replace(/=+$/, "")),
    fc.constantFrom(...stale),
  );
}

/** Dead-letter cursors this API never handed out, and some that look right. */
export const forgedCursor = fc.oneof(
  oddString,
  fc.tuple(fc.nat(), oddString).map(([diedAt, id]) => `${diedAt}.${percentEncode(id)}`),
  fc.constantFrom(`${"9".repeat(17)}.x`, "1.%zz", `1.${"a".repeat(500)}`, "-1.x", "1e3.x"),
);

/**
 * `fc.assert`, with a failure rethrown as a plain error whose message is well-formed UTF-16:
 * a counterexample holding a lone surrogate would otherwise break the test runner's
 * connection to workerd instead of being reported.
 */
export async function assertProperty<Ts>(
  property: fc.IAsyncProperty<Ts>,
  parameters: fc.Parameters<Ts>,
): Promise<void> {
  try {
    await fc.assert(property, parameters);
  } catch (error) {
    throw new Error(String((error as Error).message).toWellFormed());
  }
}
