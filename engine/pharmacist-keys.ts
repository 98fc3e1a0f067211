// Registration of a pharmacist's signing key: generated once, the private half stored encrypted
// (domain/review-signature.ts). The seed registers the demo pharmacists' keys; a pharmacist added any
// other way gets theirs before their first decision. A conditional update keeps the first key if two race.
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { generateReviewSigningKey, type ReviewSigningKey } from '../domain/review-signature';

export async function ensureSigningKey(em: EntityManager, pharmacistId: string, secret: string): Promise<ReviewSigningKey> {
  const conn = em.getConnection();
  const [row] = await conn.execute<{ signing_key: ReviewSigningKey | null }[]>(`select signing_key from pharmacist where id = ?`, [pharmacistId]);
  if (!row) throw new Error(`no pharmacist ${pharmacistId}`);
  if (row.signing_key) return row.signing_key;
  const key = generateReviewSigningKey(pharmacistId, secret);
  await conn.execute(`update pharmacist set signing_key = ? where id = ? and signing_key is null`, [JSON.stringify(key), pharmacistId]);
  const [stored] = await conn.execute<{ signing_key: ReviewSigningKey }[]>(`select signing_key from pharmacist where id = ?`, [pharmacistId]);
  return stored.signing_key;
}

export async function ensureAllSigningKeys(orm: MikroORM, secret: string): Promise<number> {
  const em = orm.em.fork();
  const ids = await em.getConnection().execute<{ id: string }[]>(`select id from pharmacist where signing_key is null`);
  for (const { id } of ids) await ensureSigningKey(em, id, secret);
  return ids.length;
}
