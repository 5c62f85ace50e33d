/**
 * The SDK's verify() against signatures made the way the partition makes them (push.ts).
 */
import { describe, expect, it } from "vitest";
import { verify } from "../../client/verify.ts";
import { signatureHeader } from "../../durable-objects/push.ts";

const KEYS = { previous: "previous-push-signing-secret", next: "next-push-signing-secret" };
const NOW = Date.UTC(2030, 0, 1);
const NOW_SECONDS = NOW / 1000;
const BODY = '{"queue":"orders","partition":0,"messages":[{"id":"1","body":{"total":12}}]}';
const TARGET = { queue: "orders", url: "https://hooks.example.com/orders" };
/** What a receiver of `orders` at that URL checks against, at the time NOW. */
const AT_NOW = { ...TARGET, now: NOW };

function sign(keyId: keyof typeof KEYS, body = BODY, at = NOW_SECONDS) {
  return signatureHeader({ id: keyId, secret: KEYS[keyId] }, TARGET, body, at);
}

describe("verify", () => {
  it("accepts a body signed with any key of the set, naming the key and the time", async () => {
    for (const keyId of ["previous", "next"] as const) {
      expect(await verify(BODY, await sign(keyId), KEYS, AT_NOW)).toEqual({
        ok: true,
        keyId,
        timestamp: NOW_SECONDS,
      });
    }
  });

  it("accepts the body as bytes", async () => {
    const bytes = new TextEncoder().encode(BODY);
    expect(await verify(bytes, await sign("next"), KEYS, AT_NOW)).toMatchObject({ ok: true });
  });

  it("refuses a body changed after signing", async () => {
    const tampered = BODY.replace('"total":12', '"total":1200');
    expect(await verify(tampered, await sign("next"), KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_mismatch",
    });
  });

  it("refuses a signature whose time was changed", async () => {
    const header = (await sign("next")).replace(`t=${NOW_SECONDS}`, `t=${NOW_SECONDS + 1}`);
    expect(await verify(BODY, header, KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_mismatch",
    });
  });

  it("refuses a signature made with another secret under a known key id", async () => {
    const forged = await signatureHeader(
      { id: "next", secret: "guessed-secret-value" },
      TARGET,
      BODY,
      NOW_SECONDS,
    );
    expect(await verify(BODY, forged, KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_mismatch",
    });
  });

  it("refuses a signature made for another queue or another URL", async () => {
    const header = await sign("next");
    for (const other of [
      { ...AT_NOW, queue: "payments" },
      { ...AT_NOW, url: "https://hooks.example.com/payments" },
    ]) {
      expect(await verify(BODY, header, KEYS, other)).toMatchObject({
        ok: false,
        code: "signature_mismatch",
      });
    }
  });

  it("takes the URL however it is written, as a URL parser reads it", async () => {
    const header = await sign("next");
    const loud = { ...AT_NOW, url: "HTTPS://HOOKS.example.com:443/orders" };
    expect(await verify(BODY, header, KEYS, loud)).toMatchObject({ ok: true });
  });

  it("refuses a key id it does not hold, e.g. one removed after a rotation", async () => {
    const { previous: _, ...rotated } = KEYS;
    expect(await verify(BODY, await sign("previous"), rotated, AT_NOW)).toMatchObject({
      ok: false,
      code: "key_unknown",
      detail: "no signing key with id 'previous'",
    });
  });

  it("refuses a signature older than five minutes as a replay", async () => {
    const header = await sign("next", BODY, NOW_SECONDS - 301);
    expect(await verify(BODY, header, KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_expired",
    });
    const justInTime = await sign("next", BODY, NOW_SECONDS - 300);
    expect(await verify(BODY, justInTime, KEYS, AT_NOW)).toMatchObject({ ok: true });
  });

  it("refuses a signature from more than five minutes ahead", async () => {
    const header = await sign("next", BODY, NOW_SECONDS + 301);
    expect(await verify(BODY, header, KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_expired",
    });
  });

  it("takes another tolerance", async () => {
    const header = await sign("next", BODY, NOW_SECONDS - 60);
    expect(await verify(BODY, header, KEYS, { ...AT_NOW, toleranceSeconds: 30 })).toMatchObject({
      ok: false,
      code: "signature_expired",
    });
  });

  it.each([
    ["no header", null],
    ["an empty header", ""],
    ["a missing part", "t=1,k=next"],
    ["a short mac", "t=1,k=next,v2=abcd"],
    ["parts out of order", `k=next,t=${NOW_SECONDS},v2=${"0".repeat(64)}`],
    ["the old v1 signature, which covered no queue or URL", `t=1,k=next,v1=${"0".repeat(64)}`],
  ])("refuses %s as malformed", async (_, header) => {
    expect(await verify(BODY, header, KEYS, AT_NOW)).toMatchObject({
      ok: false,
      code: "signature_malformed",
    });
  });
});
