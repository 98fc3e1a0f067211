// The prescription state machine: the one place that says which status may follow which.
// Activities apply it before every write, so the database can never hold an impossible history.

export const PRESCRIPTION_STATUSES = [
  'received',          // signed, validated and stored; workflow starting
  'in_review',         // waiting for a licensed pharmacist (审方)
  'rejected',          // pharmacist rejected; hospital told
  'approved',          // pharmacist approved and signed
  'priced',            // insurance pre-check done (医保预结算)
  'matching',          // looking for a pharmacy and waiting for one to accept
  'dispensed',         // a pharmacy accepted and dispensed; the prescription is used
  'in_delivery',       // handed to a delivery partner
  'delivered',         // proof of delivery recorded
  'follow_up',         // post-delivery check-ins scheduled (随访)
  'completed',
  'cancelled',         // by the hospital, before dispensing
  'unfulfillable',     // no pharmacy could fill every line
  'returned',          // delivery failed for good; drugs returned to the pharmacy
  'expired',           // validity ran out before a pharmacy accepted
  'partially_dispensed', // part dispensed, the remainder still to come from the same pharmacy (docs/dispensing.md)
] as const;

export type PrescriptionStatus = (typeof PRESCRIPTION_STATUSES)[number];

const TRANSITIONS: Record<PrescriptionStatus, readonly PrescriptionStatus[]> = {
  received: ['in_review', 'cancelled'],
  in_review: ['approved', 'rejected', 'cancelled', 'expired'],
  approved: ['priced', 'cancelled', 'expired'],
  priced: ['matching', 'cancelled', 'expired'],
  matching: ['dispensed', 'unfulfillable', 'cancelled', 'expired', 'partially_dispensed'],
  // Then dispensed: the remainder handed out later, or declared not dispensed (a partial fill goes on as is).
  partially_dispensed: ['dispensed'],
  dispensed: ['in_delivery', 'delivered', 'returned'], // delivered here = collected at the pharmacy (pickup)
  in_delivery: ['delivered', 'returned'],
  delivered: ['follow_up', 'completed'],
  follow_up: ['completed'],
  completed: [],
  rejected: [],
  cancelled: [],
  unfulfillable: [],
  returned: [],
  expired: [],
};

export function canTransition(from: PrescriptionStatus, to: PrescriptionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: PrescriptionStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/** A hospital may cancel until drugs have been dispensed (after that it is a return, not a cancel). */
export function isCancellable(status: PrescriptionStatus): boolean {
  return canTransition(status, 'cancelled');
}

export class IllegalTransition extends Error {
  constructor(readonly from: PrescriptionStatus, readonly to: PrescriptionStatus) {
    super(`prescription cannot move from ${from} to ${to}`);
    this.name = 'IllegalTransition';
  }
}

export function assertTransition(from: PrescriptionStatus, to: PrescriptionStatus): void {
  if (!canTransition(from, to)) throw new IllegalTransition(from, to);
}

// Delivery has its own small machine (docs/delivery.md): partners report these in order. `created` =
// registered with the partner; `assigned` = the partner put a courier on it; `failed` ends an attempt
// (another is dispatched, or the parcel goes back); `returned` = the parcel is back at the pharmacy.
export const DELIVERY_STATUSES = ['created', 'assigned', 'picked_up', 'in_transit', 'delivered', 'failed', 'returned'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

const DELIVERY_TRANSITIONS: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  created: ['assigned', 'failed'],
  assigned: ['picked_up', 'failed'],
  picked_up: ['in_transit', 'failed'],
  in_transit: ['delivered', 'failed'],
  delivered: [],
  failed: ['returned'],
  returned: [],
};

export function canDeliveryTransition(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return DELIVERY_TRANSITIONS[from]?.includes(to) ?? false;
}

/** What may follow a delivery status (for the 409 that names the allowed next statuses). */
export function nextDeliveryStatuses(from: DeliveryStatus): readonly DeliveryStatus[] {
  return DELIVERY_TRANSITIONS[from] ?? [];
}

/**
 * Whether a partner's update says what the last one said: note and proof compared by value (key order
 * aside). The same status with the same content is a retry, answered and not recorded twice.
 */
export function sameDeliveryContent(last: { note?: string; proof?: Record<string, unknown> } | undefined, u: { note?: string; proof?: Record<string, unknown> }): boolean {
  if (!last) return false;
  const canon = (v: unknown): string => (v === null || typeof v !== 'object' ? JSON.stringify(v ?? null)
    : Array.isArray(v) ? `[${v.map(canon).join(',')}]`
      : `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`);
  return canon(last.note ?? null) === canon(u.note ?? null) && canon(last.proof ?? null) === canon(u.proof ?? null);
}
