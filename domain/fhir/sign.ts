// For hospital integrators and tests: sign a FHIR Bundle the way rxflow verifies it. The doctor signs
// the canonical form (domain/canonical.ts) of the prescription the Bundle MAPS to, so a FHIR push and a
// JSON push of the same prescription carry the same signature. See docs/fhir.md, "Signature".
import type { Bundle, Signature } from 'fhir/r4';
import type { KeyObject } from 'node:crypto';
import { canonicalContent } from '../canonical';
import { signPrescription, type SignOptions } from '../signature';
import { mapFhirBundle, type DrugCatalogue } from './intake';
import { EXTENSION, SYSTEM } from './systems';

/** The internal prescription a Bundle maps to, without signature: what the doctor signs. */
export function mappedContent(bundle: Bundle, catalogue: DrugCatalogue): Record<string, unknown> {
  const { signature: _ignored, ...unsigned } = bundle;
  const m = mapFhirBundle(unsigned, catalogue, { unsigned: true });
  if (!m.ok) throw new Error(`the Bundle does not map to a prescription: ${m.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return m.prescription;
}

/** The exact UTF-8 text that is signed (for debugging an integration: compare it with yours). */
export function signingInput(bundle: Bundle, catalogue: DrugCatalogue): string {
  return canonicalContent(mappedContent(bundle, catalogue));
}

/** Signs with ES256 unless opts.alg says SM2-SM3 (options as domain/signature.ts's signPrescription). */
export function signBundle(bundle: Bundle, keyId: string, privateKey: KeyObject | string, catalogue: DrugCatalogue, when = new Date(), opts: SignOptions = {}): Bundle {
  const content = mappedContent(bundle, catalogue);
  const { signature } = signPrescription(content, keyId, privateKey, opts);
  const prescriber = bundle.entry?.find((e) => e.resource?.resourceType === 'MedicationRequest')?.resource as { requester?: { reference?: string } } | undefined;
  const sig: Signature = {
    // ASTM E1762 "Author's Signature": the prescriber authors and signs the order.
    type: [{ system: SYSTEM.signatureType, code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" }],
    when: when.toISOString(),
    who: { reference: prescriber?.requester?.reference },
    targetFormat: 'application/json',
    sigFormat: 'application/octet-stream',
    data: signature.value,
    extension: [
      { url: EXTENSION.signatureAlg, valueCode: signature.alg },
      { url: EXTENSION.signatureKeyId, valueString: signature.keyId },
    ],
  };
  return { ...bundle, signature: sig };
}
