// The outbox writer of hospital events. Called inside the transaction that changes a prescription's
// status (activities/audit.ts, api/intake.ts), so the event exists exactly when the change does. Who
// delivers it is told after the commit (onHospitalEventsCommitted); a lost nudge is found by the drainer.
import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import {
  cloudEvent, eventData, hospitalEventFor, orderingKey, refusalData, SEQUENCE_DIGITS, type HospitalEventType, type RefusalError, type StatusChange,
} from '../domain/hospital-events';
import { webhookConfig } from '../engine/webhook-config';

function sqlIn(t: EntityManager) {
  return <T = any>(query: string, params: unknown[] = []): Promise<T[]> =>
    t.getConnection().execute(query, params, 'all', t.getTransactionContext()) as Promise<T[]>;
}

// Ordering keys with a new pending delivery, per transaction (the EntityManager fork that runs it).
const committedKeys = new WeakMap<object, Set<string>>();

interface NewEvent { hospitalId: string; type: HospitalEventType; subject: string; prescriptionId: string | null; rxNo: string; data: Record<string, unknown> }

async function writeEvent(em: EntityManager, e: NewEvent): Promise<string> {
  const id = randomUUID();
  const key = orderingKey(e.hospitalId, e.rxNo);
  // The envelope is built by cloudEvent() with an empty hospital code and sequence 0; the statement fills
  // in the two it learns: the source ends with the hospital's code, the sequence is padded like formatSequence.
  const template = cloudEvent({ id, hospitalCode: '', type: e.type, subject: e.subject, time: new Date(), sequence: 0, data: e.data });
  // One round trip for the counter, the event and its delivery (they were four statements per status
  // change). The counter row stays locked until commit, so the per-hospital sequence follows commit order.
  // Every event is kept (the hospital's feed); only a hospital with a webhook gets a delivery.
  const [{ written, queued }] = await sqlIn(em)<{ written: number; queued: number }>(
    `with c as (
       insert into hospital_event_counter (hospital_id, last_sequence) values (?, 1)
       on conflict (hospital_id) do update set last_sequence = hospital_event_counter.last_sequence + 1
       returning last_sequence),
     ev as (
       insert into hospital_event (id, hospital_id, sequence, type, subject, prescription_id, ordering_key, envelope)
       select ?, h.id, c.last_sequence, ?, ?, ?, ?,
              jsonb_set(jsonb_set(?::jsonb, '{sequence}', to_jsonb(lpad(c.last_sequence::text, ?, '0'))), '{source}', to_jsonb(?::text || h.code))
         from c, hospital h where h.id = ?
       returning sequence),
     wd as (
       insert into webhook_delivery (event_id, hospital_id, ordering_key, sequence, status, next_attempt_at, give_up_at)
       select ?, w.hospital_id, ?, ev.sequence, 'pending', now(), now() + (? * interval '1 millisecond') from ev, webhook_endpoint w where w.hospital_id = ?
       returning event_id)
     select (select count(*) from ev)::int as written, (select count(*) from wd)::int as queued`,
    [e.hospitalId, id, template.type, e.subject, e.prescriptionId, key, JSON.stringify(template), SEQUENCE_DIGITS, template.source, e.hospitalId,
      id, key, webhookConfig().giveUpMs, e.hospitalId]);
  if (written !== 1) throw new Error(`hospital ${e.hospitalId} not found: its event was not written`); // rolls the change back
  if (queued > 0) {
    const keys = committedKeys.get(em) ?? new Set<string>();
    keys.add(key);
    committedKeys.set(em, keys);
  }
  return id;
}

/** The event a status change means to the hospital, if any; in the caller's transaction. */
export async function recordHospitalEvent(
  em: EntityManager,
  rx: { id: string; hospitalId: string; rxNo: string; partialFill?: boolean },
  change: StatusChange,
): Promise<string | null> {
  const type = hospitalEventFor(change);
  if (!type) return null;
  // Once the remainder was declared not dispensed, every later event says the prescription is a partial fill.
  const c = rx.partialFill ? { ...change, data: { ...change.data, partial: true } } : change;
  return writeEvent(em, { hospitalId: rx.hospitalId, type, subject: rx.id, prescriptionId: rx.id, rxNo: rx.rxNo, data: eventData({ ...c, prescriptionId: rx.id, rxNo: rx.rxNo }) });
}

/** A fact about a prescription that is not a status change (a cold-chain excursion), in the caller's transaction. */
export async function recordHospitalNotice(
  em: EntityManager, rx: { id: string; hospitalId: string; rxNo: string; status: string }, type: HospitalEventType, data: Record<string, unknown>,
): Promise<string> {
  return writeEvent(em, { hospitalId: rx.hospitalId, type, subject: rx.id, prescriptionId: rx.id, rxNo: rx.rxNo, data: { prescriptionId: rx.id, rxNo: rx.rxNo, status: rx.status, ...data } });
}

/** A follow-up step the hospital's patient app acts on (no status change); in the caller's transaction. */
export async function recordFollowUpEvent(
  em: EntityManager,
  rx: { id: string; hospitalId: string; rxNo: string; status: string },
  type: Extract<HospitalEventType, 'follow_up_due' | 'adverse_reaction_reported' | 'renewal_requested'>,
  facts: Record<string, unknown>,
): Promise<string> {
  return recordHospitalNotice(em, rx, type, facts);
}

/** Intake refused a push: nothing was stored, but the hospital's systems still hear it (subject = rxNo). */
export async function recordIntakeRefusal(orm: MikroORM, hospitalId: string, rxNo: string, error: RefusalError): Promise<string> {
  return orm.em.fork().transactional((t) => writeEvent(t as EntityManager, { hospitalId, type: 'refused', subject: rxNo, prescriptionId: null, rxNo, data: refusalData(rxNo, error) }));
}

/** Queues delivery of an event again (a hospital's or operator's redelivery request), in `em`'s transaction. */
export function markForDelivery(em: EntityManager, key: string): void {
  const keys = committedKeys.get(em) ?? new Set<string>();
  keys.add(key);
  committedKeys.set(em, keys);
}

/**
 * Calls `kick` with the ordering keys that got new deliveries, once their transaction has committed
 * (never for a rolled-back one). `kick` must not throw or block: the caller's commit is done.
 */
export function onHospitalEventsCommitted(orm: MikroORM, kick: (keys: string[]) => void): void {
  orm.em.getEventManager().registerSubscriber({
    afterTransactionCommit: async ({ em }) => {
      const keys = committedKeys.get(em);
      if (!keys) return;
      committedKeys.delete(em);
      kick([...keys]);
    },
    afterTransactionRollback: async ({ em }) => { committedKeys.delete(em); },
  });
}
