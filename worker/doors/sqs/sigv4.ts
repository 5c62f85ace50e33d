/**
 * AWS Signature Version 4, checked on every SQS request: the access key id is an API key's
 * id and the secret access key is its secret (unsealed by the catalog). The signature covers
 * the method, path, query, the headers named in SignedHeaders and the SHA-256 of the exact
 * body bytes, so a body changed on the way is refused. Any region is accepted (it names the
 * queues' ARNs); the service must be `sqs`. The admin token has no key id and cannot sign:
 * administer queues through SQS with an API key that has the admin scope. Without a seal key
 * (`SLUICE_SEAL_KEY`, core/deployment.ts) no secret can be unsealed: every request is refused
 * with AccessDenied saying so.
 *
 * Keys are looked up through auth.ts, cached as Bearer keys are: a revoked key stops signing at
 * once in the isolate that revoked it, in others within `KEY_CACHE_MS`. An access key id
 * without the shape of a key id is refused without asking the catalog.
 */

import { sealKeyProblem } from "../../../core/deployment.ts";
import { sha256Hex, toHex } from "../../../core/hex.ts";
import {
  type SigningCredentials as Credentials,
  type Principal,
  signingCredentials,
} from "../../auth.ts";
import { sqsError } from "./errors.ts";

/** How far the request's x-amz-date may be from the clock here, either way (AWS's rule). */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

const ALGORITHM = "AWS4-HMAC-SHA256";
/**
 * Headers a signature must cover besides x-amz-date: the host, the action (a signed read resent
 * with another X-Amz-Target would otherwise run that action) and the protocol. The AWS SDKs
 * sign all three.
 */
const SIGNED_HEADERS = ["host", "x-amz-target", "content-type"];
const SERVICE = "sqs";
const encoder = new TextEncoder();

export interface Signer {
  principal: Principal;
  /** The region the request was signed for. */
  region: string;
}

interface Authorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function incomplete(detail: string) {
  return sqsError("IncompleteSignature", detail);
}

/** `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>` */
function parseAuthorization(header: string): Authorization {
  const [algorithm, ...rest] = header.trim().split(/\s+/);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`the Authorization header must use ${ALGORITHM} (AWS Signature Version 4)`);
  }
  const fields = new Map(
    rest
      .join("")
      .split(",")
      .map((field) => {
        const at = field.indexOf("=");
        return [field.slice(0, at), field.slice(at + 1)] as const;
      }),
  );
  const [accessKeyId, date, region, service, terminator, ...extra] =
    fields.get("Credential")?.split("/") ?? [];
  const signedHeaders = fields.get("SignedHeaders")?.split(";") ?? [];
  const signature = fields.get("Signature") ?? "";
  if (
    !accessKeyId ||
    !/^\d{8}$/.test(date ?? "") ||
    !region ||
    !service ||
    terminator !== "aws4_request" ||
    extra.length > 0 ||
    signedHeaders.some((name) => name === "") ||
    !/^[0-9a-f]{64}$/.test(signature)
  ) {
    throw incomplete(
      "the Authorization header needs Credential=<key id>/<yyyymmdd>/<region>/sqs/aws4_request, SignedHeaders and a hex Signature",
    );
  }
  return { accessKeyId, date, region, service, signedHeaders, signature };
}

/** 20240102T030405Z as epoch ms. */
function amzDateMs(amzDate: string): number {
  const [, y, mo, d, h, mi, s] =
    /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate) ?? [];
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
}

function toAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** RFC 3986 percent-encoding, as SigV4 wants it: everything but A–Z a–z 0–9 - _ . ~ */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function canonicalQuery(url: URL): string {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...url.searchParams]
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([nameA, valueA], [nameB, valueB]) => compare(nameA, nameB) || compare(valueA, valueB))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

async function hmac(key: ArrayBuffer | Uint8Array, data: string): Promise<ArrayBuffer> {
  const imported = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", imported, encoder.encode(data));
}

/** The signature a holder of `secret` computes for this request. */
async function expectedSignature(
  request: Request,
  body: Uint8Array,
  auth: Authorization,
  amzDate: string,
  secret: string,
): Promise<string> {
  const url = new URL(request.url);
  const canonicalHeaders = auth.signedHeaders
    .map((name) => `${name}:${(request.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  // Services other than S3 encode the (already encoded) path once more.
  const canonicalRequest = [
    request.method,
    url.pathname.split("/").map(uriEncode).join("/"),
    canonicalQuery(url),
    canonicalHeaders,
    auth.signedHeaders.join(";"),
    await sha256Hex(body),
  ].join("\n");
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, await sha256Hex(canonicalRequest)].join("\n");
  let key: ArrayBuffer | Uint8Array = encoder.encode(`AWS4${secret}`);
  for (const part of [auth.date, auth.region, auth.service, "aws4_request"]) {
    key = await hmac(key, part);
  }
  return toHex(await hmac(key, stringToSign));
}

/** What the headers showed before the body was read: a fresh signature by a live key. */
export interface CheckedHeaders {
  auth: Authorization;
  amzDate: string;
  credentials: Credentials;
}

/**
 * Checks everything the headers alone can show (the Authorization header's form, the date
 * and the key) before a byte of the body is read, so a client that cannot name a live key
 * holds nothing while it trickles a body (docs/security.md). The signature itself covers the
 * body, so `verifySignature` checks it once the body is read.
 */
export async function authorize(env: Env, request: Request): Promise<CheckedHeaders> {
  const sealProblem = sealKeyProblem(env);
  if (sealProblem !== null) throw sqsError("AccessDenied", sealProblem);
  if (request.url.includes("?") && new URL(request.url).searchParams.has("X-Amz-Signature")) {
    throw incomplete("presigned URLs are not supported; sign with the Authorization header");
  }
  const header = request.headers.get("authorization");
  if (header === null) {
    throw sqsError(
      "MissingAuthenticationToken",
      "sign the request with AWS Signature Version 4: the access key id is a Sluice API key's id, the secret access key its secret",
    );
  }
  const auth = parseAuthorization(header);
  const amzDate = request.headers.get("x-amz-date") ?? "";
  const signedAt = amzDateMs(amzDate);
  if (Number.isNaN(signedAt) || !auth.signedHeaders.includes("x-amz-date")) {
    throw incomplete("sign the x-amz-date header (yyyymmddThhmmssZ) with the request");
  }
  const unsigned = SIGNED_HEADERS.find((name) => !auth.signedHeaders.includes(name));
  if (unsigned !== undefined) {
    throw incomplete(
      `sign the ${unsigned} header with the request (SignedHeaders must include ${SIGNED_HEADERS.join(", ")})`,
    );
  }
  if (auth.service !== SERVICE) {
    throw sqsError(
      "SignatureDoesNotMatch",
      `the credential is scoped to '${auth.service}'; it must be scoped to 'sqs'`,
    );
  }
  if (auth.date !== amzDate.slice(0, 8)) {
    throw sqsError(
      "SignatureDoesNotMatch",
      `the credential's date ${auth.date} is not the date of x-amz-date ${amzDate}`,
    );
  }
  const now = Date.now();
  if (Math.abs(now - signedAt) > MAX_CLOCK_SKEW_MS) {
    throw sqsError(
      "RequestExpired",
      `the request was signed at ${amzDate}, more than 15 minutes from this server's time ${toAmzDate(now)}; check the client's clock`,
    );
  }
  const credentials = await signingCredentials(env, auth.accessKeyId);
  if (credentials === null) {
    throw sqsError(
      "InvalidClientTokenId",
      `no API key has the access key id '${auth.accessKeyId}' (it may have been revoked); create one with POST /v1/keys`,
    );
  }
  return { auth, amzDate, credentials };
}

/** Who signed the request, or the SQS error that refuses it. */
export async function verifySignature(
  request: Request,
  body: Uint8Array,
  { auth, amzDate, credentials }: CheckedHeaders,
): Promise<Signer> {
  const expected = await expectedSignature(request, body, auth, amzDate, credentials.secret);
  if (!crypto.subtle.timingSafeEqual(encoder.encode(expected), encoder.encode(auth.signature))) {
    throw sqsError(
      "SignatureDoesNotMatch",
      "the request signature does not match the one calculated with this key's secret; check the secret access key",
    );
  }
  return { principal: { kind: "key", key: credentials.key }, region: auth.region };
}
