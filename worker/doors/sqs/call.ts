/** What every SQS action is called with, once the request's signature has been checked. */
import type { Ticket } from "../../admission.ts";
import type { Principal } from "../../auth.ts";

export interface SqsCall {
  env: Env;
  principal: Principal;
  /** The origin the request came to, which queue URLs are made from. */
  origin: string;
  /** The region the request was signed for, which queue ARNs name. */
  region: string;
  /** The request's in-flight slot, which a long-poll receive parks (admission.ts). */
  ticket: Ticket;
}

export type SqsAction = (call: SqsCall, input: unknown) => Promise<object>;
