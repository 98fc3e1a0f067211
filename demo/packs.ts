// Stand-in for a pharmacy's barcode scanner: GS1 pack codes with valid GTIN check digits and serials
// that are unique per scan.
import { randomBytes } from 'node:crypto';

export function withCheckDigit(gtin13: string): string {
  const sum = [...gtin13].map(Number).reduce((s, d, i) => s + d * (i % 2 === 0 ? 3 : 1), 0);
  return gtin13 + ((10 - (sum % 10)) % 10);
}

/** A GTIN-14 for a catalogue code such as RX0042 (country prefix 690–699 is China). */
export const gtinFor = (drugCode: string) => withCheckDigit(`0693${drugCode.replace(/\D/g, '').padStart(9, '0')}`);

export interface ScannedPack { traceCode: string; batchNo: string; expiryDate: string }

export function scanPack(drugCode: string, opts: { expiryDate?: string; batchNo?: string; serial?: string } = {}): ScannedPack {
  const expiryDate = opts.expiryDate ?? new Date(Date.now() + 2 * 365 * 86_400_000).toISOString().slice(0, 10);
  const batchNo = opts.batchNo ?? `B${expiryDate.slice(2, 4)}${expiryDate.slice(5, 7)}01`;
  const serial = opts.serial ?? randomBytes(6).toString('hex').toUpperCase();
  const yymmdd = expiryDate.slice(2).replace(/-/g, '');
  return { traceCode: `(01)${gtinFor(drugCode)}(17)${yymmdd}(10)${batchNo}(21)${serial}`, batchNo, expiryDate };
}

/** Packs for every line of an order as the pharmacy API lists it. */
export function scanOrder(lines: { lineNo: number; drugCode: string; quantity: number }[]) {
  return lines.map((l) => ({ lineNo: l.lineNo, packs: Array.from({ length: l.quantity }, () => scanPack(l.drugCode)) }));
}
