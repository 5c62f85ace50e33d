/**
 * The one way objects talk to SQLite: a tagged template whose interpolations become `?`
 * parameters, so no value is ever spliced into SQL text. Runs synchronously on
 * `ctx.storage.sql`, which keeps an operation's reads and writes inside one input gate.
 * It returns the cursor: `.toArray()` for all rows, `.one()` for exactly one, or iterate to
 * stop early without loading every row (large bodies).
 *
 * @example
 *   const sql = sqlOf(ctx.storage);
 *   const rows = sql<{ id: string }>`SELECT id FROM messages WHERE seq > ${after}`.toArray();
 */
export type SqlValue = string | number | null | ArrayBuffer;

export type Sql = (<Row extends Record<string, SqlValue> = Record<string, SqlValue>>(
  strings: TemplateStringsArray,
  ...values: SqlValue[]
) => SqlStorageCursor<Row>) & {
  /** Runs SQL text built from fixed parts only (every value bound as `?`), for `insertRows`. */
  text<Row extends Record<string, SqlValue>>(
    query: string,
    ...values: SqlValue[]
  ): SqlStorageCursor<Row>;
};

/** What an object's statements cost, cumulative: the figures Cloudflare bills. */
export interface SqlUsage {
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

/**
 * Counts every statement run through one `Sql` and the rows it read and wrote. A cursor's row
 * counts grow while it is consumed, so each is added once the next statement starts or the
 * usage is read, by which time its caller has consumed it.
 */
export class SqlMeter {
  #usage: SqlUsage = { statements: 0, rowsRead: 0, rowsWritten: 0 };
  #open: SqlStorageCursor<Record<string, SqlValue>>[] = [];

  track<Row extends Record<string, SqlValue>>(cursor: SqlStorageCursor<Row>): void {
    this.#settle();
    this.#usage.statements++;
    this.#open.push(cursor as unknown as SqlStorageCursor<Record<string, SqlValue>>);
  }

  get usage(): SqlUsage {
    this.#settle();
    return { ...this.#usage };
  }

  #settle(): void {
    for (const cursor of this.#open) {
      this.#usage.rowsRead += cursor.rowsRead;
      this.#usage.rowsWritten += cursor.rowsWritten;
    }
    this.#open = [];
  }
}

/**
 * The SQL text of each call site's template (one frozen object per site), joined once: joining
 * on every call made a new string per statement, garbage the collector paid for.
 */
const queries = new WeakMap<TemplateStringsArray, string>();

function queryOf(strings: TemplateStringsArray): string {
  let query = queries.get(strings);
  if (query === undefined) {
    query = strings.join("?");
    queries.set(strings, query);
  }
  return query;
}

export function sqlOf(storage: DurableObjectStorage, meter: SqlMeter = new SqlMeter()): Sql {
  const text = <Row extends Record<string, SqlValue>>(query: string, ...values: SqlValue[]) => {
    const cursor = storage.sql.exec<Row>(query, ...values);
    meter.track(cursor);
    return cursor;
  };
  const sql = <Row extends Record<string, SqlValue>>(
    strings: TemplateStringsArray,
    ...values: SqlValue[]
  ) => text<Row>(queryOf(strings), ...values);
  return Object.assign(sql, { text });
}

/** Most values one statement may bind: a limit of Durable Object SQLite. */
export const MAX_BOUND_PARAMETERS = 100;

/**
 * Inserts `rows` with as many rows per statement as the bound-parameter limit allows, in
 * order, and returns every statement's RETURNING rows. `insert` is `INSERT INTO t (cols)`
 * and `returning` the RETURNING clause: both fixed text; every value is bound as `?`.
 */
export function insertRows<Row extends Record<string, SqlValue>>(
  sql: Sql,
  insert: string,
  rows: SqlValue[][],
  returning: string,
): Row[] {
  if (rows.length === 0) return [];
  const width = rows[0].length;
  const tuple = `(${Array(width).fill("?").join(", ")})`;
  const perStatement = Math.floor(MAX_BOUND_PARAMETERS / width);
  const returned: Row[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const values = Array(chunk.length).fill(tuple).join(", ");
    returned.push(...sql.text<Row>(`${insert} VALUES ${values} ${returning}`, ...chunk.flat()));
  }
  return returned;
}

/** Characters of JSON one bound parameter carries at most (SQLite refuses strings past 2 MB). */
const MAX_JSON_PARAMETER = 1024 * 1024;

/**
 * Inserts `rows` into `table` through `json_each` over one bound JSON array: one statement
 * however many rows, as long as their JSON fits one parameter. Rows that do not fit are sent
 * in more statements; a row too large for JSON alone goes as plain VALUES. `verb` is
 * `INSERT` or `INSERT OR REPLACE`; `table` and `columns` are fixed text.
 */
export function insertJson(
  sql: Sql,
  verb: "INSERT" | "INSERT OR REPLACE",
  table: string,
  columns: readonly string[],
  rows: Record<string, SqlValue>[],
): void {
  const into = `${verb} INTO ${table} (${columns.join(", ")})`;
  const fields = columns.map((column) => `r.value ->> '${column}'`).join(", ");
  let chunk: string[] = [];
  let size = 0;
  const flush = () => {
    if (chunk.length > 0) sql.text(`${into} SELECT ${fields} FROM json_each(?) AS r`, `[${chunk}]`);
    chunk = [];
    size = 0;
  };
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (json.length > MAX_JSON_PARAMETER) {
      const values = columns.map(() => "?").join(", ");
      sql.text(`${into} VALUES (${values})`, ...columns.map((column) => row[column]));
      continue;
    }
    if (size + json.length > MAX_JSON_PARAMETER) flush();
    chunk.push(json);
    size += json.length + 1;
  }
  flush();
}

/**
 * The first rows, at most `max`, whose sizes add up to at most `budget` (always at least one
 * row, however large), and whether any row was left. Reads no row past the first that does not
 * fit, so a cursor over large bodies is never loaded whole.
 */
export function takeWithin<Row>(
  rows: Iterable<Row>,
  max: number,
  budget: number,
  size: (row: Row) => number,
): { taken: Row[]; more: boolean } {
  const taken: Row[] = [];
  let left = budget;
  for (const row of rows) {
    if (taken.length === max || (taken.length > 0 && size(row) > left)) {
      return { taken, more: true };
    }
    taken.push(row);
    left -= size(row);
  }
  return { taken, more: false };
}

/** One schema change. Steps are append-only: step `i` takes the schema to version `i + 1`. */
export type Migration = (sql: Sql) => void;

/**
 * Brings the schema up to date from the constructor: a `schema_version` row says how many
 * steps already ran, and only the missing ones run, in one transaction with the new version.
 */
export function migrate(
  storage: DurableObjectStorage,
  steps: readonly Migration[],
  sql: Sql = sqlOf(storage),
): void {
  storage.transactionSync(() => {
    sql`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
    const row = sql<{ version: number }>`SELECT version FROM schema_version`.toArray()[0];
    const current = row?.version ?? 0;
    if (current >= steps.length) return;
    for (const step of steps.slice(current)) step(sql);
    sql`DELETE FROM schema_version`;
    sql`INSERT INTO schema_version (version) VALUES (${steps.length})`;
  });
}
