// Status changes and their audit events are written together, in the caller's transaction, after the
// state machine allowed them. This is the only code that changes prescription.status.
import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditEventSchema, PrescriptionSchema, type Prescription } from '../db/entities';
import { LockMode } from '@mikro-orm/core';
import { outcomes, stageDuration, transitions } from '../engine/metrics';
import { assertTransition, canTransition, isTerminal, type PrescriptionStatus } from '../domain/prescription-status';
import { recordHospitalEvent } from './hospital-events';

/** From where a request came, as the API saw it (api/origin.ts); absent for the system's own steps. */
export interface AuditOrigin { ip?: string | null; userAgent?: string | null }
export interface AuditInput { action: string; actor: string; data?: Record<string, unknown>; origin?: AuditOrigin }

// The hashes (hash, rx_hash, data_digest, positions) are written by the trigger audit_event_chain on
// insert (docs/audit.md); nothing here computes or may set them.
export function audit(em: EntityManager, prescriptionId: string | null, e: AuditInput & { fromStatus?: string | null; toStatus?: string | null; at?: Date }) {
  em.create(AuditEventSchema, {
    prescriptionId, action: e.action, actor: e.actor, fromStatus: e.fromStatus ?? null, toStatus: e.toStatus ?? null, data: e.data ?? {}, at: e.at ?? new Date(),
    actorIp: e.origin?.ip?.slice(0, 64) ?? null, actorAgent: e.origin?.userAgent?.slice(0, 300) ?? null,
  } as never);
}

/**
 * Moves a prescription to `to` under a row lock. Writes nothing when it is already there, or has been
 * there and moved on, so an activity retried after a crash does not write a second event.
 */
export async function transition(em: EntityManager, id: string, to: PrescriptionStatus, e: AuditInput): Promise<Prescription> {
  const rx = await em.findOneOrFail(PrescriptionSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (rx.status === to) return rx;
  const from = rx.status;
  // A step run again after later ones (a local activity re-run when its workflow task was lost): it was
  // done, and is not done twice. Only a move the prescription has really made before passes here.
  if (!canTransition(from, to) && (await em.count(AuditEventSchema, { prescriptionId: id, toStatus: to })) > 0) return rx;
  assertTransition(from, to);
  // How long it stayed in `from`: since the status change that brought it there (or since intake), kept
  // on the row (Migration20261125070000_status_changed_at) so no query of the audit trail is needed.
  const since = rx.statusChangedAt ?? rx.createdAt;
  const at = new Date();
  rx.status = to;
  rx.statusChangedAt = at; // the same instant as its audit event
  audit(em, id, { ...e, fromStatus: from, toStatus: to, at });
  // The hospital's event (transactional outbox): committed with the change or not at all.
  await recordHospitalEvent(em, rx, { from, to, action: e.action, actor: e.actor, data: e.data });
  transitions.inc({ to });
  stageDuration.observe({ stage: from }, Math.max(0, Date.now() - new Date(since).getTime()) / 1000);
  if (isTerminal(to)) outcomes.inc({ outcome: to });
  return rx;
}
