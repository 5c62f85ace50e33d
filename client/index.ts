/**
 * The Sluice SDK. Start with `new Sluice({ url, token })`; see docs/sdk.md.
 */
export {
  type BatchFailure,
  type BatchResult,
  MAX_BATCH,
  Sluice,
  type SluiceOptions,
} from "./client.ts";
export type { ConsumeOptions, MessageContext, MessageHandler } from "./consumer.ts";
export { SluiceError, type SluiceErrorKind } from "./errors.ts";
export type { Fetch, RetryOptions } from "./http.ts";
export type { BackpressureOptions } from "./pacer.ts";
export type * from "./types.ts";
export { type PushSigningKeys, type VerifyOptions, type VerifyResult, verify } from "./verify.ts";
