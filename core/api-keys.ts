/**
 * What an API key is: the scopes and patterns it is made from (`NewApiKeySchema`, which the
 * router checks a request with and the catalog stores) and what its id and secret look like:
 * the catalog makes them (`key_` and 8 random bytes in hex; `sk_` and 32 random bytes in
 * unpadded base64url), and the router refuses anything of another shape before it asks the
 * catalog about it.
 */
import { z } from "zod";

export const KEY_ID_BYTES = 8;
export const SECRET_BYTES = 32;

const KEY_ID_SHAPE = /^key_[0-9a-f]{16}$/;
const SECRET_SHAPE = /^sk_[A-Za-z0-9_-]{43}$/;

export function isKeyIdShaped(id: string): boolean {
  return KEY_ID_SHAPE.test(id);
}

export function isSecretShaped(token: string): boolean {
  return SECRET_SHAPE.test(token);
}

export const ScopeSchema = z.enum(["produce", "consume", "admin"]);
export type Scope = z.infer<typeof ScopeSchema>;

/** An origin as browsers send it (`https://app.example.com`), or `*` for any. */
const OriginSchema = z
  .string()
  .refine(
    (origin) => origin === "*" || URL.parse(origin)?.origin === origin,
    "an origin is a scheme, host and optional port, such as https://app.example.com, or *",
  );

/** What a new API key is made from; the router may use it as its body schema. */
export const NewApiKeySchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes: z
      .array(ScopeSchema)
      .min(1, "a key needs at least one scope")
      .transform((scopes) => [...new Set(scopes)]),
    queues: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9_.*-]{1,80}$/,
            "a queue pattern is 1–80 characters of A–Z, a–z, 0–9, '-', '_', '.' and '*'",
          ),
      )
      .min(1, "a key needs at least one queue pattern")
      .max(100),
    /** Topic name patterns, as `queues` (publishing needs `produce` on the topic). */
    topics: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9_*-]{1,80}$/,
            "a topic pattern is 1–80 characters of A–Z, a–z, 0–9, '-', '_' and '*'",
          ),
      )
      .max(100)
      .default([]),
    origins: z.array(OriginSchema).max(50).default([]),
  })
  .strict();

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  /** Queue name patterns; `*` matches any run of characters. */
  queues: string[];
  /** Topic name patterns, likewise. */
  topics: string[];
  /** Browser origins allowed to call with this key (CORS). */
  origins: string[];
  createdAt: number;
}
