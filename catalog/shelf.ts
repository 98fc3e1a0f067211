// The basket's part of the candidates' shelves, read from PostgreSQL's `stock` (the source of truth) at
// match time. Elasticsearch answers where and when (distance, hours, capabilities, which SKUs are in
// stock at all); how many units and at what price come from here, by primary key, for the few dozen
// pharmacies it returned — never a stale projection, and no shelf in the search documents.

/** Runs one SQL statement with `?` placeholders; the caller decides which connection (or transaction). */
export type SqlRunner = <R>(sql: string, params: unknown[]) => Promise<R[]>;

/** What one pharmacy holds of a basket: prices and units available, and its SKUs per substitution key. */
export interface Shelf {
  prices: Record<string, number>;
  available: Record<string, number>;
  skusByKey: Record<string, string[]>;
}

export type ShelfReader = (pharmacyCodes: string[], drugCodes: string[], substitutionKeys: string[]) => Promise<Map<string, Shelf>>;

// Arrays travel as JSON text: one placeholder each, whatever the driver does with JS arrays. The
// lateral subquery (kept apart by `offset 0`) makes the plan a primary-key probe per pharmacy and SKU;
// flattened, the planner would read every pharmacy's row of a popular drug and hash-join them.
const SHELF_SQL = `
select p.code as pharmacy, s.drug_code as drug, s.available, s.price_fen as price
from pharmacy p cross join lateral (
  select s.drug_code, s.on_hand - s.reserved as available, s.price_fen from stock s
  where s.pharmacy_id = p.id and s.drug_code = any(array(select jsonb_array_elements_text(?::jsonb)))
    and s.on_hand - s.reserved > 0
  offset 0) s
where p.code = any(array(select jsonb_array_elements_text(?::jsonb)))`;

/** The SKUs a substitutable line may take, by the expression index on drug_substitution_key. */
const SUBSTITUTES_SQL = `
select code, drug_substitution_key(data) as key from drug
where drug_substitution_key(data) = any(array(select jsonb_array_elements_text(?::jsonb)))`;

export function shelfReader(run: SqlRunner): ShelfReader {
  return async (pharmacyCodes, drugCodes, substitutionKeys) => {
    const shelves = new Map<string, Shelf>();
    if (!pharmacyCodes.length) return shelves;
    const keyOf = new Map<string, string[]>();
    if (substitutionKeys.length) {
      for (const r of await run<{ code: string; key: string }>(SUBSTITUTES_SQL, [JSON.stringify(substitutionKeys)])) {
        keyOf.set(r.code, [...(keyOf.get(r.code) ?? []), r.key]);
      }
    }
    const codes = [...new Set([...drugCodes, ...keyOf.keys()])];
    const rows = await run<{ pharmacy: string; drug: string; available: number; price: number }>(SHELF_SQL, [JSON.stringify(codes), JSON.stringify(pharmacyCodes)]);
    for (const r of rows) {
      let shelf = shelves.get(r.pharmacy);
      if (!shelf) shelves.set(r.pharmacy, (shelf = { prices: {}, available: {}, skusByKey: {} }));
      shelf.prices[r.drug] = r.price;
      shelf.available[r.drug] = r.available;
      for (const key of keyOf.get(r.drug) ?? []) (shelf.skusByKey[key] ??= []).push(r.drug);
    }
    return shelves;
  };
}

/** For a node-postgres pool or client: `?` placeholders become `$1…`. */
export function pgRunner(db: { query(text: string, values: unknown[]): Promise<{ rows: any[] }> }): SqlRunner {
  return async (sql, params) => {
    let n = 0;
    return (await db.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows;
  };
}
