// The prescription a hospital pushes, validated at the edge. One schema yields the TypeScript type,
// the runtime check and (later) the OpenAPI description.
import { z } from 'zod';

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

export const PrescriptionLineSchema = z.object({
  // The drug, by any of: the catalogue SKU code, the insurance drug code (医保药品编码), the NMPA approval
  // number (国药准字…), or the generic name (通用名) with the specification (规格). Intake resolves it to one
  // catalogue SKU (domain/rules.ts, resolveLineDrugs); identifiers given together must agree.
  drugCode: z.string().min(1).max(40).optional(),
  insuranceCode: z.string().min(1).max(40).optional(),
  approvalNumber: z.string().min(1).max(40).optional(),
  genericName: z.string().min(1).max(120).optional(),
  spec: z.string().min(1).max(60).optional(),
  quantity: z.number().int().positive().max(100),
  dosage: z.string().min(1).max(40),          // per administration, e.g. "0.3g", "10U"
  doseMg: z.number().positive().max(100000).optional(), // per administration, for dose checks
  frequency: z.string().min(1).max(20),       // e.g. "qd", "bid", "tid"
  timesPerDay: z.number().int().positive().max(12),
  route: z.string().min(1).max(20),           // e.g. "口服", "皮下注射"
  days: z.number().int().positive().max(84),
  /** The doctor allows another manufacturer's SKU of the same generic, strength and form. */
  allowSubstitution: z.boolean().default(false),
});

export const PrescriptionSubmissionSchema = z.object({
  rxNo: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
  issuedAt: isoDateTime,
  validDays: z.number().int().min(1).max(3).default(1),
  visit: z.object({
    type: z.enum(['follow_up', 'first']),
    priorDiagnosisRef: z.string().max(120).optional(),
    department: z.string().min(1).max(60),
  }),
  doctor: z.object({
    code: z.string().min(1).max(40),
    name: z.string().min(1).max(40),
  }),
  patient: z.object({
    ref: z.string().min(1).max(64),            // the hospital's patient id
    name: z.string().min(1).max(60),
    gender: z.enum(['M', 'F']),
    birthDate: isoDate,
    phone: z.string().regex(/^[0-9+\- ]{6,20}$/),
    idNumber: z.string().regex(/^[0-9]{17}[0-9X]$/).optional(),
    address: z.object({
      text: z.string().min(1).max(200),
      lat: z.number().min(-90).max(90),
      lng: z.number().min(-180).max(180),
    }),
    allergies: z.array(z.string().max(40)).max(30).default([]),
    pregnant: z.boolean().default(false),
    guardian: z.object({ name: z.string().min(1), relation: z.string().min(1), phone: z.string().min(6) }).optional(),
    // For the automated pre-review (docs/review-checks.md); all optional, absent means unknown.
    lactating: z.boolean().optional(),
    weightKg: z.number().positive().max(400).optional(),
    renal: z.object({
      egfr: z.number().positive().max(200).optional(),             // mL/min/1.73 m²
      crcl: z.number().positive().max(250).optional(),             // mL/min, Cockcroft-Gault
      creatinineUmolL: z.number().positive().max(3000).optional(), // serum creatinine; CrCl is derived with weightKg
      measuredOn: isoDate.optional(),
    }).optional(),
  }),
  diagnoses: z.array(z.object({ code: z.string().min(1).max(20), name: z.string().min(1).max(80) })).min(1).max(10),
  lines: z.array(PrescriptionLineSchema).min(1).max(5),
  /** The patient's choice after the visit: delivered home, or collected at the pharmacy. */
  fulfilment: z.object({ mode: z.enum(['delivery', 'pickup']) }).default({ mode: 'delivery' }),
  chronic: z.boolean().default(false),
  /** An acute condition (急诊处方): at most 3 days' supply by default. */
  acute: z.boolean().optional(),
  longTermReason: z.string().max(200).optional(),
  insurance: z.object({
    planId: z.string().min(1),
    memberId: z.string().min(1),
    visitType: z.enum(['outpatient', 'chronic_special']).default('outpatient'),
    deductibleUsedFen: z.number().int().min(0).default(0),
    paidThisYearFen: z.number().int().min(0).default(0),
    /** The patient agreed to pay out of pocket if the insurer cannot answer in time (RX_INSURER_FALLBACK=self_pay; docs/insurance.md). */
    selfPayConsent: z.boolean().optional(),
    /** Commercial insurance as the second payer (a plan the region's policy lists); usedFen: what it paid this year. */
    commercial: z.object({ planId: z.string().min(1).max(40), memberId: z.string().min(1).max(40), usedFen: z.number().int().min(0).default(0) }).optional(),
  }).optional(),
  /** An amended version of a prescription a pharmacist rejected: same rxNo, naming the version it replaces (docs/review.md). */
  amends: z.object({ version: z.number().int().min(1), prescriptionId: z.uuid().optional() }).optional(),
  /** The doctor renews after a follow-up's renewal request (docs/follow-up.md §6): links the request to this prescription. */
  renewalOf: z.object({ renewalRequestId: z.uuid() }).optional(),
  signature: z.object({
    alg: z.enum(['ES256', 'SM2-SM3']),        // domain/signature.ts, docs/signing.md
    keyId: z.string().min(1).max(64),
    value: z.string().min(16).max(512),       // base64 of DER or r||s, over canonicalContent()
  }),
});

/** A prescription as pushed: each line names its drug by one or more identifiers. */
export type PrescriptionPush = z.infer<typeof PrescriptionSubmissionSchema>;
export type PrescriptionLinePush = z.infer<typeof PrescriptionLineSchema>;
/** A line once intake resolved it to a catalogue SKU: what the engine works with. */
export type PrescriptionLineInput = PrescriptionLinePush & { drugCode: string };
/** A prescription whose lines are resolved (intake; activities via withResolvedDrugCodes). */
export type PrescriptionSubmission = Omit<PrescriptionPush, 'lines'> & { lines: PrescriptionLineInput[] };

/**
 * The stored content is the signed push, byte for byte; a line that named its drug by another identifier has
 * no drugCode there. This overlays the SKU intake resolved (prescription_line.drug_code, by line number).
 */
export function withResolvedDrugCodes(content: Record<string, unknown>, lines: { lineNo: number; drugCode: string }[]): PrescriptionSubmission {
  const push = content as unknown as PrescriptionPush;
  if (!Array.isArray(push.lines)) return push as unknown as PrescriptionSubmission; // not a full push (e.g. test fixtures)
  const byNo = new Map(lines.map((l) => [l.lineNo, l.drugCode]));
  return { ...push, lines: push.lines.map((l, i) => ({ ...l, drugCode: byNo.get(i + 1) ?? l.drugCode ?? '' })) };
}
