// The patient's side (docs/patient.md): who may hold a link, how long it lasts, and what the patient page
// says — the timeline in plain words, money in yuan, the holder's label. Pure functions: no I/O.
import { z } from 'zod';
import { retainedUntil, type RetentionPolicy } from './retention';
import type { Fen } from './types';

/** Who holds a link: the patient, or a family member acting for them (named, with their relation). */
const ttlDays = z.number().int().min(1).max(365).optional(); // shorter than the configured lifetime, never longer
export const IssueLinkBody = z.discriminatedUnion('holder', [
  z.object({ holder: z.literal('patient'), ttlDays }),
  z.object({
    holder: z.literal('family'),
    name: z.string().trim().min(1, 'name the family member').max(60),
    relation: z.string().trim().min(1, 'say how they are related (e.g. 女儿 / daughter)').max(30),
    ttlDays,
  }),
]);
export type IssueLink = z.infer<typeof IssueLinkBody>;

/**
 * When a link issued now stops working: after its lifetime, and never after the prescription's retention
 * (past it, the data the link shows may be erased). Null when that moment has already passed.
 */
export function linkExpiry(now: Date, ttlMs: number, rx: { issuedAt: Date; updatedAt: Date }, retention: RetentionPolicy): Date | null {
  const until = Math.min(now.getTime() + ttlMs, retainedUntil(rx, retention).getTime());
  return until > now.getTime() ? new Date(until) : null;
}

/** What the page calls the holder: the same data for patient and family, but labelled. */
export function holderLabel(h: { holder: 'patient' | 'family'; name?: string | null; relation?: string | null }): { zh: string; en: string } {
  if (h.holder === 'patient') return { zh: '患者本人', en: 'The patient' };
  return { zh: `家属 ${h.name ?? ''}（${h.relation ?? ''}）`, en: `Family member ${h.name ?? ''} (${h.relation ?? ''})` };
}

/** Integer fen as yuan text, "¥1,234.50": integer arithmetic, never floats. */
export function formatYuan(fen: Fen): string {
  if (!Number.isSafeInteger(fen)) throw new Error(`not an amount in fen: ${fen}`);
  const abs = Math.abs(fen);
  const yuan = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${fen < 0 ? '-' : ''}¥${yuan}.${String(abs % 100).padStart(2, '0')}`;
}

/** The patient may change delivery/pickup and the address only before a pharmacy is looked for. */
export const CHOICE_OPEN_STATUSES = ['received', 'in_review', 'approved', 'priced'] as const;
/** Receipt can be confirmed once the drugs are in the patient's hands (delivered or collected). */
export const RECEIPT_STATUSES = ['delivered', 'follow_up', 'completed'] as const;
export const canConfirmReceipt = (status: string) => (RECEIPT_STATUSES as readonly string[]).includes(status);

export interface PlainEvent { at: string; code: string; zh: string; en: string }

const W = (code: string, zh: string, en: string) => ({ code, zh, en });

/**
 * An audit event as the patient reads it, or null for what is internal (reservations, slips, escalations,
 * offers to pharmacies that may decline). Only what changed for the patient, without ids or staff names.
 */
export function plainEvent(action: string, data: Record<string, unknown> = {}): { code: string; zh: string; en: string } | null {
  switch (action) {
    case 'received': return W('received', '医院已开具处方', 'The hospital sent the prescription');
    case 'review_queued': return W('in_review', '药师审方中', 'A pharmacist is reviewing it');
    case 'review_approved': return W('approved', '药师审方通过', 'The pharmacist approved it');
    case 'review_rejected': return W('rejected', '药师审方未通过，请联系医院', 'The pharmacist did not approve it; please contact the hospital');
    case 'insurance_prechecked': return W('priced', '医保预结算完成', 'Insurance pre-check done');
    case 'fulfilment_chosen': return data.mode === 'pickup'
      ? W('chose_pickup', '已选择到店自取', 'You chose to collect at the pharmacy')
      : W('chose_delivery', '已选择送药上门', 'You chose home delivery');
    case 'pharmacy_accepted': return W('pharmacy_accepted', '药店已接单', 'A pharmacy took the order');
    case 'dispensed': case 'remainder_not_dispensed': return W('dispensed', '药店已配药', 'The pharmacy dispensed it');
    case 'dispensed_partially': return W('dispensed_partially', '药店已部分配药', 'The pharmacy dispensed part of it');
    case 'delivery_assigned': return W('delivery_assigned', '已安排配送', 'A courier was assigned');
    case 'delivery_picked_up': return W('picked_up', '骑手已取药', 'The courier picked it up');
    case 'delivery_in_transit': return W('in_transit', '配送途中', 'On the way');
    case 'delivery_delivered': return W('delivered', '已送达', 'Delivered');
    case 'delivery_failed': return W('delivery_failed', '配送未成功，将重新安排', 'Delivery failed; it will be sent again');
    case 'collected': return W('collected', '已在药店取药', 'Collected at the pharmacy');
    case 'patient_notified': return data.event === 'ready_for_pickup' ? W('ready_for_pickup', '药品已备好，可到店取药', 'Ready to collect at the pharmacy') : null;
    case 'receipt_confirmed': return W('receipt_confirmed', '您已确认收药', 'You confirmed receipt');
    case 'cancelled': return W('cancelled', '医院已撤销处方', 'The hospital cancelled the prescription');
    case 'expired': return W('expired', '处方已过期，未配药', 'The prescription expired before it was dispensed');
    case 'unfulfillable': return W('unfulfillable', '暂无药店可配，请联系医院', 'No pharmacy could fill it; please contact the hospital');
    case 'returned': return W('returned', '药品已退回药店', 'The drugs went back to the pharmacy');
    case 'completed': return W('completed', '服务已完成', 'All done');
    default: return null;
  }
}

/** The patient's timeline from the audit trail: plain words, in order, repeated steps shown once. */
export function plainTimeline(events: { at: Date | string; action: string; data?: Record<string, unknown> | null }[]): PlainEvent[] {
  const out: PlainEvent[] = [];
  for (const e of events) {
    const w = plainEvent(e.action, e.data ?? {});
    if (!w || out.at(-1)?.code === w.code) continue;
    out.push({ at: new Date(e.at).toISOString(), ...w });
  }
  return out;
}
