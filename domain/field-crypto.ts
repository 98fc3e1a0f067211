// Field-level encryption of a patient's national ID number, phone and address (docs/data-protection.md).
// AES-256-GCM with versioned keys: the first key of the ring encrypts, every key decrypts, so keys rotate
// without downtime. A value is stored as `enc:<version>:<base64url(iv ‖ tag ‖ ciphertext)>`; the field's
// name is the GCM associated data, so a ciphertext moved into another field does not decrypt. Lookups
// (a patient by ID number) use a keyed hash (HMAC-SHA256) under a separate key: equal values, equal
// hashes, and nothing to learn from them without the key. Pure functions: the key ring is an argument.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface KeyRing {
  /** Version of the key that encrypts (the first one configured). */
  current: string;
  keys: ReadonlyMap<string, Buffer>;
  hmacKey: Buffer;
}

export const ENC_PREFIX = 'enc:';
const VERSION = /^[A-Za-z0-9_-]{1,16}$/;
const IV_LEN = 12;
const TAG_LEN = 16;

export class KeyConfigError extends Error {}
export class DecryptError extends Error {}

/** "v2:base64,v1:base64": 32-byte keys, first one encrypts. Throws KeyConfigError with what is wrong (never the key). */
export function parseKeyRing(spec: string, hmacKeyB64: string): KeyRing {
  const keys = new Map<string, Buffer>();
  let current: string | undefined;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf(':');
    const version = i > 0 ? part.slice(0, i) : '';
    if (!VERSION.test(version)) throw new KeyConfigError('each data key is written <version>:<base64 key>, the version letters, digits, _ or - (at most 16)');
    const key = Buffer.from(part.slice(i + 1), 'base64');
    if (key.length !== 32) throw new KeyConfigError(`data key ${version} must be 32 bytes (base64 of 32 random bytes), got ${key.length}`);
    if (keys.has(version)) throw new KeyConfigError(`data key version ${version} is configured twice`);
    keys.set(version, key);
    current ??= version;
  }
  if (!current) throw new KeyConfigError('no data key configured');
  const hmacKey = Buffer.from(hmacKeyB64, 'base64');
  if (hmacKey.length < 32) throw new KeyConfigError(`the lookup (HMAC) key must be at least 32 bytes, got ${hmacKey.length}`);
  if ([...keys.values()].some((k) => k.equals(hmacKey))) throw new KeyConfigError('the lookup key must differ from the data keys');
  return { current, keys, hmacKey };
}

export const isEncrypted = (v: unknown): v is string => typeof v === 'string' && v.startsWith(ENC_PREFIX);

/** The key version a stored value was encrypted with; null for plaintext (stored before encryption). */
export function keyVersionOf(v: string): string | null {
  if (!isEncrypted(v)) return null;
  const end = v.indexOf(':', ENC_PREFIX.length);
  return end > 0 ? v.slice(ENC_PREFIX.length, end) : null;
}

export function encryptField(ring: KeyRing, plaintext: string, field: string): string {
  const key = ring.keys.get(ring.current)!;
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(field, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${ENC_PREFIX}${ring.current}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
}

/** Plaintext of a stored value; a value that is not encrypted (a row from before encryption) is returned as it is. */
export function decryptField(ring: KeyRing, stored: string, field: string): string {
  if (!isEncrypted(stored)) return stored;
  const version = keyVersionOf(stored);
  const key = version ? ring.keys.get(version) : undefined;
  if (!key) throw new DecryptError(`${field} is encrypted with data key ${version ?? '?'}, which is not configured (RX_DATA_KEYS)`);
  const raw = Buffer.from(stored.slice(ENC_PREFIX.length + version!.length + 1), 'base64url');
  if (raw.length < IV_LEN + TAG_LEN) throw new DecryptError(`${field} is not a valid ciphertext`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LEN));
    decipher.setAAD(Buffer.from(field, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_LEN, IV_LEN + TAG_LEN));
    return Buffer.concat([decipher.update(raw.subarray(IV_LEN + TAG_LEN)), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptError(`${field} does not decrypt with data key ${version} (wrong key, wrong field or altered)`);
  }
}

/** True when the value must be (re-)encrypted to be under the current key. */
export const needsReencryption = (ring: KeyRing, stored: string | null | undefined) =>
  typeof stored === 'string' && stored !== '' && keyVersionOf(stored) !== ring.current;

/** Normalises before hashing, so "33010619800101777x" finds "33010619800101777X" and "+86 138-5710-0001" finds "13857100001". */
export type LookupKind = 'idNumber' | 'phone' | 'insuranceMember';

export function normaliseForLookup(kind: LookupKind, value: string): string {
  if (kind === 'idNumber' || kind === 'insuranceMember') return value.replace(/\s/g, '').toUpperCase();
  let d = value.replace(/\D/g, '');
  if (d.length === 13 && d.startsWith('86')) d = d.slice(2);
  return d;
}

/** HMAC-SHA256 (hex) of the normalised value, domain-separated by kind. */
export function lookupHash(ring: KeyRing, kind: LookupKind, value: string): string {
  return createHmac('sha256', ring.hmacKey).update(`${kind}:${normaliseForLookup(kind, value)}`, 'utf8').digest('hex');
}

// ---- the prescription's snapshot (prescription.content) -------------------------------------------------

/** The fields of `content.patient` encrypted at rest; the address object is encrypted as its JSON text. */
export const CONTENT_FIELDS = ['phone', 'idNumber', 'address'] as const;
const contentAad = (f: string) => `prescription.content.patient.${f}`;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// The insurance member id is commonly the resident ID number (e.g. 330106195803140011): protected the same way.
const MEMBER_AAD = 'prescription.content.insurance.memberId';
const COMMERCIAL_MEMBER_AAD = 'prescription.content.insurance.commercial.memberId';

/** A copy of the content with the patient's ID number, phone, address, guardian phone and insurance member id encrypted (already encrypted values stay). */
export function protectContent(ring: KeyRing, content: Obj): Obj {
  if (!isObj(content) || !isObj(content.patient)) return content;
  if (isObj(content.insurance) && typeof content.insurance.memberId === 'string' && !isEncrypted(content.insurance.memberId)) {
    content = { ...content, insurance: { ...(content.insurance as Obj), memberId: encryptField(ring, content.insurance.memberId, MEMBER_AAD) } };
  }
  const commercial = isObj(content.insurance) ? content.insurance.commercial : undefined;
  if (isObj(commercial) && typeof commercial.memberId === 'string' && !isEncrypted(commercial.memberId)) {
    content = { ...content, insurance: { ...(content.insurance as Obj), commercial: { ...commercial, memberId: encryptField(ring, commercial.memberId, COMMERCIAL_MEMBER_AAD) } } };
  }
  const patient: Obj = { ...(content.patient as Obj) };
  for (const f of CONTENT_FIELDS) {
    const v = patient[f];
    if (v === undefined || v === null || isEncrypted(v)) continue;
    patient[f] = encryptField(ring, f === 'address' ? JSON.stringify(v) : String(v), contentAad(f));
  }
  if (isObj(patient.guardian) && typeof patient.guardian.phone === 'string' && !isEncrypted(patient.guardian.phone)) {
    patient.guardian = { ...patient.guardian, phone: encryptField(ring, patient.guardian.phone, contentAad('guardian.phone')) };
  }
  return { ...content, patient };
}

/** The content as signed: every encrypted field decrypted (plaintext fields, from before encryption, pass through). */
export function revealContent(ring: KeyRing, content: Obj): Obj {
  if (!isObj(content) || !isObj(content.patient)) return content;
  if (isObj(content.insurance) && isEncrypted(content.insurance.memberId)) {
    content = { ...content, insurance: { ...(content.insurance as Obj), memberId: decryptField(ring, content.insurance.memberId, MEMBER_AAD) } };
  }
  const commercial = isObj(content.insurance) ? content.insurance.commercial : undefined;
  if (isObj(commercial) && isEncrypted(commercial.memberId)) {
    content = { ...content, insurance: { ...(content.insurance as Obj), commercial: { ...commercial, memberId: decryptField(ring, commercial.memberId, COMMERCIAL_MEMBER_AAD) } } };
  }
  const patient: Obj = { ...(content.patient as Obj) };
  for (const f of CONTENT_FIELDS) {
    const v = patient[f];
    if (!isEncrypted(v)) continue;
    const plain = decryptField(ring, v, contentAad(f));
    patient[f] = f === 'address' ? JSON.parse(plain) : plain;
  }
  if (isObj(patient.guardian) && isEncrypted(patient.guardian.phone)) {
    patient.guardian = { ...patient.guardian, phone: decryptField(ring, patient.guardian.phone, contentAad('guardian.phone')) };
  }
  return { ...content, patient };
}

/** True when some protected field of the content is plaintext or under an older key. */
export function contentNeedsReencryption(ring: KeyRing, content: Obj): boolean {
  if (!isObj(content) || !isObj(content.patient)) return false;
  const p = content.patient;
  const values = [...CONTENT_FIELDS.map((f) => p[f]), isObj(p.guardian) ? p.guardian.phone : undefined,
    isObj(content.insurance) ? content.insurance.memberId : undefined,
    isObj(content.insurance) && isObj(content.insurance.commercial) ? content.insurance.commercial.memberId : undefined];
  return values.some((v) => v !== undefined && v !== null && (typeof v !== 'string' || keyVersionOf(v) !== ring.current));
}

/** Re-encrypts a protected content under the current key. */
export const reencryptContent = (ring: KeyRing, content: Obj) => protectContent(ring, revealContent(ring, content));
