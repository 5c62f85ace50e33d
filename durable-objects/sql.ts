/**
 * The one way objects talk to SQLite: a tagged template whose interpolations become `?`
 * parameters, so no value is ever spliced into SQL text. Runs synchronously on
 * `ctx.storage.sql`, which keeps an operation's reads and writes inside one input gate.
 *
 * @example
 *   const sql = sqlOf(ctx.storage);
 *   const rows = sql<{ id: string }>`SELECT id FROM messages WHERE seq > ${after}`;
 */
export type SqlValue = string | number | null | ArrayBuffer;

export type Sql = <Row extends Record<string, SqlValue> = Record<string, SqlValue>>(
  strings: TemplateStringsArray,
  ...values: SqlValue[]
) => Row[];

export function sqlOf(storage: DurableObjectStorage): Sql {
  return <Row extends Record<string, SqlValue>>(
    strings: TemplateStringsArray,
    ...values: SqlValue[]
  ) => storage.sql.exec<Row>(strings.join("?"), ...values).toArray();
}
