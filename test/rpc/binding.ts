/** A binding to the `SluiceRpc` entrypoint whose props name `keyId`, as a bound Worker has. */
import { exports } from "cloudflare:workers";
import type { SluiceRpc } from "../../worker/doors/rpc.ts";

export function bindingFor(keyId: string): Service<SluiceRpc> {
  const entrypoints = exports as unknown as {
    SluiceRpc: (options: { props: object }) => Service<SluiceRpc>;
  };
  return entrypoints.SluiceRpc({ props: { keyId } });
}
