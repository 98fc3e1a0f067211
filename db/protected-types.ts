// Column types that encrypt on write and decrypt on read (docs/data-protection.md), so every ORM reader
// (activities, review, courier views, PDF rendering) sees plaintext and every row in PostgreSQL holds
// ciphertext. Raw SQL readers decrypt with domain/field-crypto.ts themselves (reports/supervision.ts).
// Encryption is randomised (a fresh IV each time), so the ORM's change detection compares plaintexts:
// a loaded, unchanged entity is never rewritten.
import { JsonType, Type, type Platform, type TransformContext } from '@mikro-orm/core';
import { canonicalJson } from '../domain/canonical';
import { decryptField, encryptField, protectContent, revealContent } from '../domain/field-crypto';
import { dataKeyRing } from '../engine/data-keys';

/** A text column holding `enc:<version>:…`; null stays null, plaintext from before encryption reads as it is. */
export class EncryptedText extends Type<string | null | undefined, string | null | undefined> {
  constructor(private readonly field: string) { super(); }

  override convertToDatabaseValue(value: string | null | undefined): string | null | undefined {
    if (value === null || value === undefined) return value;
    return encryptField(dataKeyRing(), String(value), this.field);
  }

  override convertToJSValue(value: string | null | undefined): string | null | undefined {
    if (value === null || value === undefined) return value;
    return decryptField(dataKeyRing(), value, this.field);
  }

  override compareValues(a: string | null | undefined, b: string | null | undefined): boolean {
    if (a === b) return true; // the same ciphertext: no need to open either
    const plain = (v: string | null | undefined) => (v === null || v === undefined ? v : decryptField(dataKeyRing(), v, this.field));
    return plain(a) === plain(b);
  }

  override compareAsType(): string { return 'string'; }
  override getColumnType(): string { return 'text'; }
}

type Obj = Record<string, unknown>;
// The ciphertext each revealed content came from: an unchanged content is written back as it was read.
const sources = new WeakMap<object, { plain: string; stored: Obj }>();

/** prescription.content: jsonb whose patient ID number, phone, address and guardian phone are encrypted. */
export class ProtectedContent extends JsonType {
  override convertToDatabaseValue(value: unknown, platform: Platform, context?: TransformContext): string | null {
    if (value === null || value === undefined || typeof value !== 'object') return super.convertToDatabaseValue(value, platform, context) as string | null;
    const src = sources.get(value);
    const stored = src && src.plain === canonicalJson(value) ? src.stored : protectContent(dataKeyRing(), value as Obj);
    return super.convertToDatabaseValue(stored, platform, context) as string | null;
  }

  override convertToJSValue(value: unknown, platform: Platform, context?: TransformContext): unknown {
    const raw = super.convertToJSValue(value as never, platform, context);
    if (raw === null || typeof raw !== 'object') return raw;
    const revealed = revealContent(dataKeyRing(), raw as Obj);
    if (revealed !== raw) sources.set(revealed, { plain: canonicalJson(revealed), stored: raw as Obj });
    return revealed;
  }

  override compareValues(a: unknown, b: unknown): boolean {
    // An unchanged content is written back as the stored JSON it was read as (above): equal text, equal content.
    if (a === b) return true;
    const plain = (v: unknown) => {
      const o = typeof v === 'string' ? JSON.parse(v) : v;
      return o && typeof o === 'object' ? canonicalJson(revealContent(dataKeyRing(), o as Obj)) : canonicalJson(o ?? null);
    };
    return plain(a) === plain(b);
  }
}
