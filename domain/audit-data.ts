// What of an audit event's `data` is personal, and how it looks outside the engine (docs/audit.md).
// Audit events carry facts (who, what, when, from where, which status), not the patient's record: the
// prescription's content and the patient row are never copied into them. A few actions carry a little
// personal data by nature: a delivery's or a collection's proof (a reference, the name of who received
// it), a courier's free-text note, the masked phone an SMS went to. Pure functions.
import { maskName } from './masking';

/** Keys whose values may identify a person; anything under them is personal. */
export const PERSONAL_AUDIT_KEYS = ['proof', 'receivedBy', 'note', 'to', 'phone', 'name', 'idNumber', 'address', 'patient', 'guardian'] as const;
const PERSONAL = new Set<string>(PERSONAL_AUDIT_KEYS);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when some personal key holds a value (null and empty values do not count). */
export function hasPersonalData(data: unknown): boolean {
  if (Array.isArray(data)) return data.some(hasPersonalData);
  if (!isObj(data)) return false;
  return Object.entries(data).some(([k, v]) => (PERSONAL.has(k) && v !== null && v !== undefined && v !== '') || hasPersonalData(v));
}

/**
 * The data as a regulator's feed carries it: a proof keeps only its kind, a name is masked, free text and
 * other personal values are replaced by "[redacted]". Everything else passes unchanged.
 */
export function regulatorView(data: unknown): unknown {
  if (Array.isArray(data)) return data.map(regulatorView);
  if (!isObj(data)) return data;
  const out: Obj = {};
  for (const [k, v] of Object.entries(data)) {
    if (!PERSONAL.has(k) || v === null || v === undefined) out[k] = regulatorView(v);
    else if (k === 'proof') out[k] = isObj(v) && typeof v.kind === 'string' ? { kind: v.kind } : '[redacted]';
    else if (k === 'receivedBy' || k === 'name') out[k] = maskName(String(v));
    else if (k === 'to' && typeof v === 'string' && /^\d{2,3}\*{4}\d{2,4}$/.test(v)) out[k] = v; // already masked (138****0001)
    else out[k] = '[redacted]';
  }
  return out;
}
