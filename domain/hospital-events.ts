// What a hospital hears about its prescriptions: which state changes become events, their CloudEvents
// 1.0 envelope, and the retry schedule of their delivery. Pure: the outbox writer and the webhook
// activities apply it (docs/webhooks.md is the contract).
import type { PrescriptionStatus } from './prescription-status';

export const EVENT_TYPE_PREFIX = 'rxflow.prescription.';

/** Every type a hospital can receive; the suffix after rxflow.prescription. */
export const HOSPITAL_EVENT_TYPES = [
  'accepted',          // intake stored it (status received)
  'refused',           // intake refused it (no prescription exists; subject = rxNo)
  'approved',
  'rejected',          // by the pharmacist, with reasons
  'dispensed',
  'out_for_delivery',
  'delivered',
  'collected',         // picked up at the pharmacy (status delivered)
  'completed',
  'cancelled',
  'expired',           // validity ran out
  'not_reviewed',      // no pharmacist decided in time (status expired or returned, stage review)
  'unfulfillable',
  'returned',
  // Issue 9, "every state change is an event": the internal steps too, so the feed (and the callbacks,
  // which carry the same log) mirror the whole status machine. Status only: no findings, no prices.
  'in_review',         // queued for a pharmacist (after the automated pre-review)
  'priced',            // insurance pre-check done
  'matching',          // looking for a pharmacy
  'follow_up',         // delivered; follow-up check-ins scheduled
  // Partial fills: part dispensed, the remainder still to come. When the remainder is declared not
  // dispensed the prescription moves on with a `dispensed` event whose data says `partial: true`, and
  // every later event of that prescription carries `partial: true` too (docs/dispensing.md).
  'partially_dispensed',
  // Not a status change: a cold-chain excursion held the parcel for a pharmacist's decision (docs/delivery.md).
  'cold_chain_excursion',
  // Follow-up (docs/follow-up.md): not status changes, but what the hospital's patient app must act on —
  // a questionnaire to show the patient, a side effect the prescriber should know of, a renewal to decide.
  'follow_up_due',
  'adverse_reaction_reported',
  'renewal_requested',
] as const;
export type HospitalEventType = (typeof HOSPITAL_EVENT_TYPES)[number];

export interface StatusChange {
  from: PrescriptionStatus | null;
  to: PrescriptionStatus;
  action: string;
  actor: string;
  data?: Record<string, unknown>;
}

/** The event a status change means to the hospital; every status has one (null only for an unknown status). */
export function hospitalEventFor(c: StatusChange): HospitalEventType | null {
  const d = c.data ?? {};
  switch (c.to) {
    case 'received': return 'accepted';
    case 'in_review': return 'in_review';
    case 'priced': return 'priced';
    case 'matching': return 'matching';
    case 'follow_up': return 'follow_up';
    case 'partially_dispensed': return 'partially_dispensed';
    case 'approved': return 'approved';
    case 'rejected': return 'rejected';
    case 'dispensed': return 'dispensed';
    case 'in_delivery': return 'out_for_delivery';
    case 'delivered': return c.action === 'collected' ? 'collected' : 'delivered';
    case 'completed': return 'completed';
    case 'cancelled': return 'cancelled';
    case 'unfulfillable': return 'unfulfillable';
    case 'expired':
    case 'returned':
      // Not reviewed in time reads differently to a hospital than an expiry during matching.
      if (d.reason === 'not_reviewed' || d.stage === 'review') return 'not_reviewed';
      return c.to;
    default: return null;
  }
}

// Only these facts leave rxflow in an event: the hospital has the prescription itself; an event says
// what happened and why, never personal data it does not need.
const DETAIL_KEYS = ['reasons', 'comment', 'reason', 'stage', 'escalations', 'missingLines', 'split', 'attempts', 'tried', 'pharmacist', 'partner', 'attempt',
  // Partial fills: quantities per line number only (the hospital has the lines themselves).
  'partial', 'fillNo', 'dispensedLines', 'notDispensedLines'] as const;

export function eventData(c: StatusChange & { prescriptionId: string; rxNo: string }): Record<string, unknown> {
  const d = c.data ?? {};
  const out: Record<string, unknown> = { prescriptionId: c.prescriptionId, rxNo: c.rxNo, status: c.to, previousStatus: c.from };
  for (const k of DETAIL_KEYS) if (d[k] !== undefined && d[k] !== null) out[k] = d[k];
  // Actors are "pharmacy:PH001/孙药师", "pharmacist:P001", "courier:SF-CITY", "hospital:…".
  const [kind, rest] = c.actor.split(':', 2);
  if (kind === 'pharmacy' && rest) out.pharmacy = rest.split('/')[0];
  if (kind === 'pharmacist' && rest) out.pharmacist = rest;
  if (kind === 'courier' && rest) out.partner = rest;
  if (c.to === 'cancelled') out.cancelledBy = c.actor;
  return out;
}

export interface RefusalError { status: number; code: string; message: string; details?: { path?: string; code?: string; message: string }[] }

export function refusalData(rxNo: string, e: RefusalError): Record<string, unknown> {
  return { rxNo, status: 'refused', code: e.code, message: e.message, details: e.details ?? [] };
}

export const SEQUENCE_DIGITS = 16;
export const formatSequence = (n: number | string | bigint) => String(n).padStart(SEQUENCE_DIGITS, '0');

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  sequence: string;
  data: Record<string, unknown>;
}

export function cloudEvent(e: { id: string; hospitalCode: string; type: HospitalEventType; subject: string; time: Date; sequence: number | string; data: Record<string, unknown> }): CloudEvent {
  return {
    specversion: '1.0',
    id: e.id,
    // One source per tenant: (source, id) is unique, and a per-tenant feed (issue 9) reads by source.
    source: `urn:rxflow:hospital:${e.hospitalCode}`,
    type: `${EVENT_TYPE_PREFIX}${e.type}`,
    subject: e.subject,
    time: e.time.toISOString(),
    datacontenttype: 'application/json',
    sequence: formatSequence(e.sequence),
    data: e.data,
  };
}

/** Events of one prescription number are delivered one after another, in sequence order. */
export const orderingKey = (hospitalId: string, rxNo: string) => `${hospitalId}/${rxNo}`;

export interface RetrySchedule { initialMs: number; maxMs: number; coefficient: number }

/** The wait after failed attempt n (1-based): Temporal's exponential backoff, capped. */
export function retryDelayMs(s: RetrySchedule, attempt: number): number {
  return Math.min(s.maxMs, s.initialMs * s.coefficient ** Math.max(0, attempt - 1));
}

/** The schedule as a list, for the docs and the status view: when each attempt happens, until the horizon. */
export function attemptTimesMs(s: RetrySchedule, horizonMs: number, limit = 1000): number[] {
  const times = [0];
  let t = 0;
  for (let n = 1; times.length < limit; n++) {
    t += retryDelayMs(s, n);
    if (t > horizonMs) break;
    times.push(t);
  }
  return times;
}

export const isAcknowledged = (status: number) => status >= 200 && status < 300;
