/** Reading an object's SQLite database from a test, as the object itself would. */
import { runInDurableObject } from "cloudflare:test";

/** Runs `query` inside the object behind `stub` and returns every row. */
export function rowsOf<T = Record<string, SqlStorageValue>>(
  stub: DurableObjectStub,
  query: string,
  ...bindings: SqlStorageValue[]
): Promise<T[]> {
  return runInDurableObject(
    stub,
    (_, state) => state.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}
