/**
 * Sluice exactly as deployed, except that each partition commits every send on its own:
 * the baseline that shows what group commit buys. Same router, same front path; the
 * benchmark binds PARTITION to NaivePartition.
 */
import { Partition } from "../../durable-objects/partition.ts";

export * from "../../worker/index.ts";
export { default } from "../../worker/index.ts";

export class NaivePartition extends Partition {
  protected override readonly groupCommit = false;
}
