/**
 * Sluice exactly as deployed, except that each partition commits every send on its own:
 * the baseline that shows what group commit buys. Same router, same front path; the
 * benchmark binds PARTITION to NaivePartition.
 */

import type { CommitPolicy } from "../../durable-objects/partition/group-commit.ts";
import type { Work } from "../../durable-objects/partition/rounds.ts";
import { Partition } from "../../durable-objects/partition.ts";

export * from "../../worker/index.ts";
export { default } from "../../worker/index.ts";

/** One send per commit round, never waiting for company: no sharing of transactions or syncs. */
export const oneSendPerRound: CommitPolicy<Work> = { take: () => 1 };

export class NaivePartition extends Partition {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, oneSendPerRound);
  }
}
