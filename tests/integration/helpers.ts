// Shared by the integration tests: the parties as HTTP clients of the engine started by global-setup,
// and direct SQL to check what the engine wrote.
import type { MikroORM } from '@mikro-orm/postgresql';
import { openOrm } from '../../db/orm';
import { demoActors, ApiClient, claimAndReview, type HttpResult } from '../../demo/actors';
import { isBlockingFinding } from '../../domain/review';
import { applyTestEnv } from './env';

applyTestEnv();

export const apiUrl = () => {
  const url = process.env.RX_TEST_API_URL;
  if (!url) throw new Error('RX_TEST_API_URL is not set: run the integration project through jest (global-setup starts the engine)');
  return url;
};
export const actors = () => demoActors(apiUrl());
export const anonymous = () => new ApiClient(apiUrl(), 'no-such-key');

let orm: MikroORM | undefined;
export async function sql<T = any>(query: string, params: unknown[] = []): Promise<T[]> {
  orm ??= await openOrm(process.env.DATABASE_URL!);
  return orm.em.fork().getConnection().execute(query, params);
}
/** Runs statements in one transaction that is rolled back: to see what a change does before it commits. */
export async function rolledBack(fn: (run: <T = any>(query: string, params?: unknown[]) => Promise<T[]>) => Promise<void>): Promise<void> {
  orm ??= await openOrm(process.env.DATABASE_URL!);
  const rollback = new Error('rolled back');
  await orm.em.fork().transactional(async (t) => {
    await fn((query, params = []) => t.getConnection().execute(query, params, 'all', t.getTransactionContext()));
    throw rollback;
  }).catch((e) => { if (e !== rollback) throw e; });
}

export async function closeDb(): Promise<void> {
  await orm?.close();
  orm = undefined;
}

export async function stockOf(pharmacyCode: string, drugCode: string): Promise<{ on_hand: number; reserved: number }> {
  const [row] = await sql(`select s.on_hand, s.reserved from stock s join pharmacy p on p.id = s.pharmacy_id where p.code = ? and s.drug_code = ?`, [pharmacyCode, drugCode]);
  return row;
}

export async function actions(prescriptionId: string): Promise<string[]> {
  return (await sql(`select action from audit_event where prescription_id = ? order by id`, [prescriptionId])).map((r) => r.action);
}

export { claimAndReview } from '../../demo/actors';

/**
 * How every journey approves since reviews need a claim: claim, then approve (with an override reason
 * only when a finding blocks). Throws with the engine's answer when it refuses.
 */
export async function approve(id: string, pharmacist = actors().pharmacist): Promise<HttpResult> {
  const detail = await pharmacist.get(`/v1/review-queue/${id}`);
  const blocking = (detail.body?.findings ?? []).some(isBlockingFinding);
  const r = await claimAndReview(pharmacist, id, { decision: 'approve', ...(blocking ? { overrideReason: '测试：药师已评估风险 / test: risk assessed' } : {}) });
  if (r.status !== 202) throw new Error(`approval of ${id} refused: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

/** The proof-of-delivery code the patient was sent for a delivery (the test SMS outbox, RX_SMS_OUTBOX). */
export async function deliveryCode(deliveryId: string): Promise<string> {
  const fs = await import('node:fs');
  for (let i = 0; i < 100; i++) {
    const text = fs.existsSync(process.env.RX_SMS_OUTBOX!) ? fs.readFileSync(process.env.RX_SMS_OUTBOX!, 'utf8') : '';
    const msg = text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.deliveryId === deliveryId);
    if (msg) return /签收码 (\d{6})/.exec(msg.text)![1];
    await new Promise((r) => setTimeout(r, 100)); // the activity sends it right after the delivery row commits
  }
  throw new Error(`no delivery code was sent for ${deliveryId}`);
}
