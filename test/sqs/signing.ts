/**
 * Requests signed by hand with AWS Signature Version 4, for what the SDK will not send: a
 * signature that leaves headers out, a body of any text, a body sent as a trickle of chunks.
 */
import { SignatureV4 } from "@smithy/signature-v4";
import { type Credentials, ORIGIN, REGION } from "./support.ts";

/** SHA-256 and HMAC-SHA256 in Web Crypto, in the shape the SigV4 signer wants. */
class WebSha256 {
  #parts: Uint8Array[] = [];
  constructor(readonly secret?: string | ArrayBuffer | ArrayBufferView) {}
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#parts.push(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    const data = new Uint8Array(this.#parts.reduce((total, part) => total + part.byteLength, 0));
    let offset = 0;
    for (const part of this.#parts) {
      data.set(part, offset);
      offset += part.byteLength;
    }
    if (this.secret === undefined) {
      return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    }
    const key = await crypto.subtle.importKey(
      "raw",
      bytesOf(this.secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  }
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return new Uint8Array(data);
}

export interface SignedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * `AmazonSQS.<target>` with `body` as it is, signed with the key; `unsigned` headers are left
 * out of the signature (the AWS SDKs sign them all).
 */
export async function signedRequest(
  credentials: Credentials,
  target: string,
  body: string,
  unsigned: string[] = [],
): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials,
    region: REGION,
    service: "sqs",
    sha256: WebSha256,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: new URL(ORIGIN).hostname,
      path: "/",
      query: {},
      headers: {
        host: new URL(ORIGIN).host,
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": `AmazonSQS.${target}`,
      },
      body,
    },
    { unsignableHeaders: new Set(unsigned) },
  );
  return { url: `${ORIGIN}/`, headers: signed.headers, body };
}
