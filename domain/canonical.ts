// The canonical form a doctor signs: the prescription without its `signature` member, serialised as
// JSON with object keys sorted by UTF-16 code unit at every level and no insignificant whitespace
// (the JCS rules of RFC 8785 for the value types a prescription contains). Hospitals sign exactly
// these bytes (UTF-8); see docs/signing.md.
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function canonicalContent(prescription: Record<string, unknown>): string {
  const { signature: _ignored, ...content } = prescription;
  return canonicalJson(content);
}

/** Identifies the signed content: equal hashes mean the same prescription. */
export function contentHash(prescription: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalContent(prescription), 'utf8').digest('hex');
}
