// FHIR R4 intake: a Bundle (transaction, collection or document) of MedicationRequest lines grouped by
// groupIdentifier, their Patient and Practitioner (and Encounter, Condition, Coverage, ...) mapped to the
// SAME PrescriptionSubmission the JSON intake takes (domain/prescription.ts). The doctor signs the
// canonical form of that mapped prescription, so the API verifies it with the JSON intake's own code.
// Pure: the catalogue lookup is an input. Every problem names its FHIR path (docs/fhir.md).
import type {
  Bundle, CodeableConcept, Condition, Coverage, Encounter, Extension, HumanName, Identifier, MedicationRequest,
  Observation, Patient, Practitioner, Reference, Signature,
} from 'fhir/r4';
import { PrescriptionSubmissionSchema } from '../prescription';
import type { Drug } from '../types';
import { EXTENSION, LACTATION, MEASUREMENTS, PREGNANCY, SYSTEM } from './systems';

export const BUNDLE_TYPES = ['transaction', 'collection', 'document'] as const;

/** Resources a Bundle may carry. Anything else is refused rather than silently dropped. */
export const SUPPORTED_RESOURCES = [
  'MedicationRequest', 'Medication', 'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Encounter',
  'Condition', 'AllergyIntolerance', 'Observation', 'Coverage', 'Composition', 'Provenance',
] as const;

export type FhirIssueCode =
  | 'FHIR_NOT_A_BUNDLE'            // the body is not a Bundle
  | 'FHIR_BUNDLE_TYPE'             // Bundle.type is not transaction, collection or document
  | 'FHIR_UNSUPPORTED_RESOURCE'    // a resource type rxflow does not take
  | 'FHIR_REQUIRED'                // a resource or element rxflow needs is missing
  | 'FHIR_INVALID_VALUE'           // present but not usable (wrong form, unit, code)
  | 'FHIR_UNSUPPORTED_VALUE'       // valid FHIR, but more than an rxflow prescription can say
  | 'FHIR_UNRESOLVED_REFERENCE'    // a reference that points to nothing in the Bundle
  | 'FHIR_WRONG_REFERENCE_TYPE'    // a reference to the wrong kind of resource
  | 'FHIR_INCONSISTENT'            // the lines of one prescription disagree on a prescription-level value
  | 'FHIR_UNKNOWN_DRUG_SYSTEM'     // no medication coding in a system rxflow resolves
  | 'FHIR_UNKNOWN_DRUG'            // a coding that matches no catalogue drug
  | 'FHIR_AMBIGUOUS_DRUG'          // a coding that matches several catalogue drugs
  | 'FHIR_SIGNATURE_SIGNER'        // Bundle.signature.who is not the prescriber
  | 'FHIR_SCHEMA';                 // the mapped prescription breaks the intake schema (zod code in the message)

export interface FhirIssue { path: string; code: FhirIssueCode; message: string }

/** Resolves a medication coding to catalogue drug codes; [] = no such drug. */
export interface DrugCatalogue { resolve(system: string, code: string): string[] }

/** The medication coding systems rxflow resolves, in the order it prefers them. */
export const DRUG_SYSTEMS = [SYSTEM.drugCode, SYSTEM.insuranceDrugCode, SYSTEM.approvalNumber] as const;

export function catalogueOf(drugs: Iterable<Pick<Drug, 'code' | 'insuranceCode' | 'approvalNumber'>>): DrugCatalogue {
  const index = new Map<string, Set<string>>();
  const add = (system: string, code: string | null | undefined, drug: string) => {
    if (!code) return;
    const k = `${system}|${code}`;
    index.set(k, (index.get(k) ?? new Set()).add(drug));
  };
  for (const d of drugs) {
    add(SYSTEM.drugCode, d.code, d.code);
    add(SYSTEM.insuranceDrugCode, d.insuranceCode, d.code);
    add(SYSTEM.approvalNumber, d.approvalNumber, d.code);
  }
  return { resolve: (system, code) => [...(index.get(`${system}|${code}`) ?? [])].sort() };
}

/** The medication codings a Bundle asks about, so the caller can load just those drugs. */
export function medicationCodings(bundle: unknown): { system: string; code: string }[] {
  const out: { system: string; code: string }[] = [];
  const entries = (bundle as Bundle | null)?.entry;
  if (!Array.isArray(entries)) return out;
  for (const e of entries) {
    const r = e?.resource as { resourceType?: string; medicationCodeableConcept?: CodeableConcept; code?: CodeableConcept } | undefined;
    const cc = r?.resourceType === 'MedicationRequest' ? r.medicationCodeableConcept : r?.resourceType === 'Medication' ? r.code : undefined;
    for (const c of Array.isArray(cc?.coding) ? cc.coding : []) {
      if (typeof c?.system === 'string' && typeof c.code === 'string' && (DRUG_SYSTEMS as readonly string[]).includes(c.system)) out.push({ system: c.system, code: c.code });
    }
  }
  return out;
}

export type FhirMapping =
  | { ok: true; prescription: Record<string, unknown>; paths: PathMap }
  | { ok: false; issues: FhirIssue[]; paths: PathMap };

export interface MapOptions {
  /** For the signing helper: map the content and leave Bundle.signature alone. */
  unsigned?: boolean;
}

/**
 * Internal JSON path ($.lines[0].days) → the FHIR path it came from. Intake's own errors (signature,
 * rules, conflicts) are about the mapped prescription; this translates their paths for the FHIR client.
 */
export class PathMap {
  private readonly map = new Map<string, string>();
  set(internal: string, fhir: string): void { this.map.set(internal, fhir); }
  /** The FHIR path of an internal path: the nearest mapped ancestor, else the Bundle. */
  toFhir(internal: string | undefined): string {
    let p = internal ?? '$';
    for (;;) {
      const hit = this.map.get(p);
      if (hit) return hit;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) return 'Bundle';
      p = p.slice(0, cut);
    }
  }
  entries(): [string, string][] { return [...this.map.entries()]; }
}

interface Entry { resource: any; path: string; fullUrl?: string }

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = <T>(v: T[] | undefined | null): T[] => (Array.isArray(v) ? v : []);
const ext = (owner: { extension?: Extension[] } | undefined, url: string): Extension | undefined => arr(owner?.extension).find((e) => e?.url === url);
const display = (cc: CodeableConcept | undefined): string | undefined =>
  cc?.text ?? arr(cc?.coding).find((c) => c?.display)?.display ?? arr(cc?.coding).find((c) => c?.code)?.code;
const hasCode = (cc: CodeableConcept | undefined, system: string, code: string) =>
  arr(cc?.coding).some((c) => c?.system === system && c.code === code);

const CJK = /[\u3400-\u9fff]/;
function personName(n: HumanName | undefined): string | undefined {
  if (!n) return undefined;
  if (n.text) return n.text;
  const given = arr(n.given).join(CJK.test(n.family ?? '') ? '' : ' ');
  if (!n.family) return given || undefined;
  // Chinese names read family name first, without a space; others given names first.
  return CJK.test(n.family) ? `${n.family}${given}` : [given, n.family].filter(Boolean).join(' ');
}

const TIMES_PER_DAY: Record<string, number> = { QD: 1, AM: 1, PM: 1, BED: 1, BID: 2, TID: 3, QID: 4, Q12H: 2, Q8H: 3, Q6H: 4, Q4H: 6, Q3H: 8, Q2H: 12 };
const FREQUENCY_OF: Record<number, string> = { 1: 'qd', 2: 'bid', 3: 'tid', 4: 'qid' };
const PERIOD_PER_DAY: Record<string, number> = { d: 1, h: 24, min: 1440 };
const DAYS_PER: Record<string, number> = { d: 1, day: 1, days: 1, '天': 1, wk: 7, week: 7, weeks: 7, '周': 7 };
/** SNOMED CT route codes to the Chinese route names the rest of rxflow uses, when no text is given. */
const ROUTES: Record<string, string> = {
  '26643006': '口服', '34206005': '皮下注射', '78421000': '肌内注射', '47625008': '静脉注射', '6064005': '外用',
  '46713006': '鼻腔给药', '54485002': '滴眼', '37161004': '直肠给药', '37839007': '舌下含服', '447694001': '吸入',
};

export function mapFhirBundle(input: unknown, catalogue: DrugCatalogue, opts: MapOptions = {}): FhirMapping {
  const issues: FhirIssue[] = [];
  const paths = new PathMap();
  /** Internal paths already explained by a mapping issue; the schema's echo of them is dropped. */
  const reported = new Set<string>();
  const issue = (path: string, code: FhirIssueCode, message: string, internal?: string) => {
    issues.push({ path, code, message });
    if (internal) reported.add(internal);
  };
  const fail = (): FhirMapping => ({ ok: false, issues, paths });
  const mark = (internal: string) => { reported.add(internal); };

  if (!isObj(input) || input.resourceType !== 'Bundle') {
    issue('Bundle.resourceType', 'FHIR_NOT_A_BUNDLE', `expected a Bundle, got ${isObj(input) ? String(input.resourceType ?? 'no resourceType') : 'no resource'}`);
    return fail();
  }
  const bundle = input as Bundle;
  if (!(BUNDLE_TYPES as readonly string[]).includes(bundle.type)) {
    issue('Bundle.type', 'FHIR_BUNDLE_TYPE', `Bundle.type must be one of ${BUNDLE_TYPES.join(', ')}; got ${String(bundle.type)}`);
  }

  // Entries, and the two ways a reference may name one: its fullUrl, or Type/id.
  const entries: Entry[] = [];
  const byRef = new Map<string, Entry>();
  arr(bundle.entry).forEach((e, i) => {
    const path = `Bundle.entry[${i}].resource`;
    const r = e?.resource as any;
    if (!isObj(r) || typeof r.resourceType !== 'string') { issue(path, 'FHIR_REQUIRED', 'every entry needs a resource with a resourceType'); return; }
    if (!(SUPPORTED_RESOURCES as readonly string[]).includes(r.resourceType)) {
      issue(`${path}.resourceType`, 'FHIR_UNSUPPORTED_RESOURCE', `${r.resourceType} is not taken by rxflow's intake (supported: ${SUPPORTED_RESOURCES.join(', ')})`);
      return;
    }
    const entry: Entry = { resource: r, path, fullUrl: e.fullUrl };
    entries.push(entry);
    if (e.fullUrl) byRef.set(e.fullUrl, entry);
    if (r.id) byRef.set(`${r.resourceType}/${r.id}`, entry);
  });
  const ofType = (t: string) => entries.filter((e) => e.resource.resourceType === t);
  const lookup = (reference: string) => byRef.get(reference) ?? byRef.get(reference.replace(/^.*\/([A-Za-z]+\/[^/]+)$/, '$1'));
  /** Two lines naming one resource by fullUrl and by Type/id agree: compare what the reference resolves to. */
  const target = (reference: unknown) => (typeof reference === 'string' ? lookup(reference)?.path ?? reference : reference ?? undefined);

  /** The entry a reference points to, checked for type; undefined (with an issue) when it does not resolve. */
  const deref = (ref: Reference | undefined, path: string, types: string[], internal?: string): Entry | undefined => {
    if (!ref?.reference) { issue(path, 'FHIR_REQUIRED', `a reference to ${types.join(' or ')} in the Bundle is required`, internal); return undefined; }
    const hit = typeof ref.reference === 'string' ? lookup(ref.reference) : undefined;
    if (!hit) { issue(`${path}.reference`, 'FHIR_UNRESOLVED_REFERENCE', `${ref.reference} is not in the Bundle (references resolve by fullUrl or Type/id)`, internal); return undefined; }
    if (!types.includes(hit.resource.resourceType)) {
      issue(`${path}.reference`, 'FHIR_WRONG_REFERENCE_TYPE', `${ref.reference} is a ${hit.resource.resourceType}; expected ${types.join(' or ')}`, internal);
      return undefined;
    }
    return hit;
  };

  const requests = ofType('MedicationRequest');
  if (!requests.length) {
    // Everything prescription-level is read from the lines: without one there is nothing more to say.
    issue('Bundle.entry', 'FHIR_REQUIRED', 'the Bundle needs at least one MedicationRequest (one per prescription line)');
    return fail();
  }

  const rx: Record<string, any> = {};
  /** A prescription-level value every line may state: the first line's counts, the others must agree. */
  function agree<T>(internal: string, pick: (mr: MedicationRequest) => T | undefined, rel: string): { value: T; entry: Entry } | undefined {
    let first: { value: T; entry: Entry } | undefined;
    for (const e of requests) {
      const v = pick(e.resource);
      if (v === undefined) continue;
      if (!first) { first = { value: v, entry: e }; paths.set(internal, `${e.path}.${rel}`); continue; }
      if (JSON.stringify(v) !== JSON.stringify(first.value)) {
        issue(`${e.path}.${rel}`, 'FHIR_INCONSISTENT', `all lines of one prescription must have the same ${rel} (${first.entry.path} says ${JSON.stringify(first.value)})`, internal);
      }
    }
    return first;
  }
  const first = requests[0];
  const firstPath = first?.path ?? 'Bundle.entry';

  // Prescription number, issue time, validity.
  const group = agree('$.rxNo', (mr) => mr.groupIdentifier?.value, 'groupIdentifier');
  if (first && !group) issue(`${first.path}.groupIdentifier`, 'FHIR_REQUIRED', 'groupIdentifier.value carries the prescription number (rxNo) and is required', '$.rxNo');
  rx.rxNo = group?.value;
  const authored = agree('$.issuedAt', (mr) => mr.authoredOn, 'authoredOn');
  if (first && !authored) issue(`${first.path}.authoredOn`, 'FHIR_REQUIRED', 'authoredOn (the issue time, with a time zone) is required', '$.issuedAt');
  rx.issuedAt = authored?.value;
  const validity = agree('$.validDays', (mr) => mr.dispenseRequest?.validityPeriod?.end, 'dispenseRequest.validityPeriod.end');
  if (validity && authored) {
    const start = Date.parse(validity.entry.resource.dispenseRequest?.validityPeriod?.start ?? authored.value);
    const end = Date.parse(validity.value);
    if (Number.isNaN(start) || Number.isNaN(end)) issue(`${validity.entry.path}.dispenseRequest.validityPeriod`, 'FHIR_INVALID_VALUE', 'validityPeriod needs dateTimes', '$.validDays');
    // Whole days from issue (处方管理办法: 1 day, up to 3 where the doctor notes it); the schema checks the range.
    else rx.validDays = Math.round((end - start) / 86_400_000);
  }

  // The visit: a follow-up Encounter referencing the offline diagnosis it continues.
  const encRef = agree('$.visit', (mr) => target(mr.encounter?.reference), 'encounter');
  if (first && !encRef) issue(`${first.path}.encounter`, 'FHIR_REQUIRED', 'a reference to the follow-up visit\'s Encounter is required (online prescribing is for follow-up visits only)', '$.visit');
  const enc = encRef ? deref(encRef.entry.resource.encounter, `${encRef.entry.path}.encounter`, ['Encounter'], '$.visit') : undefined;
  const conditions = ofType('Condition');
  if (enc) {
    const e = enc.resource as Encounter;
    paths.set('$.visit', enc.path);
    const typeIdx = arr(e.type).findIndex((t) => arr(t?.coding).some((c) => c?.system === SYSTEM.visitType));
    const typeCode = typeIdx >= 0 ? arr(e.type![typeIdx].coding).find((c) => c?.system === SYSTEM.visitType)!.code : undefined;
    paths.set('$.visit.type', `${enc.path}.type${typeIdx >= 0 ? `[${typeIdx}]` : ''}`);
    if (typeCode === 'follow-up' || typeCode === 'first') rx.visit = { type: typeCode === 'first' ? 'first' : 'follow_up' };
    else { issue(`${enc.path}.type`, 'FHIR_REQUIRED', `Encounter.type needs a coding in ${SYSTEM.visitType} (follow-up | first)`, '$.visit.type'); rx.visit = {}; }
    const dept = display(e.serviceType);
    paths.set('$.visit.department', `${enc.path}.serviceType`);
    if (dept) rx.visit.department = dept;
    else issue(`${enc.path}.serviceType`, 'FHIR_REQUIRED', 'Encounter.serviceType names the department (text or coding display)', '$.visit.department');
    // The prior offline diagnosis is a Condition carrying that diagnosis' record number as its identifier;
    // the Encounter's own diagnosis list is searched first, then any Condition in the Bundle.
    const linked = arr(e.diagnosis).map((d, i) => ({ d, i })).filter(({ d }) => d?.condition?.reference);
    const candidates = [
      ...linked.map(({ d, i }) => deref(d.condition, `${enc.path}.diagnosis[${i}].condition`, ['Condition'])).filter((x): x is Entry => !!x),
      ...conditions,
    ];
    const prior = candidates.find((c) => arr((c.resource as Condition).identifier).some((id) => id?.value));
    if (prior) {
      const idx = arr((prior.resource as Condition).identifier).findIndex((id) => id?.value);
      rx.visit.priorDiagnosisRef = (prior.resource as Condition).identifier![idx].value;
      paths.set('$.visit.priorDiagnosisRef', `${prior.path}.identifier[${idx}]`);
    } else {
      paths.set('$.visit.priorDiagnosisRef', conditions[0] ? `${conditions[0].path}.identifier` : `${enc.path}.diagnosis`);
    }
  }

  // Diagnoses: the Conditions in the Bundle, else the lines' reasonCode.
  const diagnoses: { code?: string; name?: string }[] = [];
  const seenDx = new Set<string>();
  const addDx = (cc: CodeableConcept | undefined, path: string) => {
    const codings = arr(cc?.coding);
    const c = codings.find((x) => typeof x?.system === 'string' && x.system.startsWith(SYSTEM.icd10)) ?? codings.find((x) => x?.code);
    const code = c?.code;
    if (code && seenDx.has(code)) return;
    if (code) seenDx.add(code);
    paths.set(`$.diagnoses[${diagnoses.length}]`, path);
    diagnoses.push({ code, name: c?.display ?? cc?.text });
  };
  for (const c of conditions) addDx((c.resource as Condition).code, `${c.path}.code`);
  if (!conditions.length) requests.forEach((e) => arr((e.resource as MedicationRequest).reasonCode).forEach((rc, i) => addDx(rc, `${e.path}.reasonCode[${i}]`)));
  paths.set('$.diagnoses', conditions.length ? conditions[0].path : `${firstPath}.reasonCode`);
  if (!diagnoses.length && requests.length) issue(`${firstPath}.reasonCode`, 'FHIR_REQUIRED', 'at least one diagnosis: a Condition in the Bundle or MedicationRequest.reasonCode', '$.diagnoses');
  rx.diagnoses = diagnoses;

  // The prescriber: every line's requester, the same Practitioner.
  const req = agree('$.doctor', (mr) => target(mr.requester?.reference), 'requester');
  if (first && !req) issue(`${first.path}.requester`, 'FHIR_REQUIRED', 'requester (the prescribing Practitioner) is required', '$.doctor');
  const prac = req ? deref(req.entry.resource.requester, `${req.entry.path}.requester`, ['Practitioner'], '$.doctor') : undefined;
  if (prac) {
    const p = prac.resource as Practitioner;
    paths.set('$.doctor', prac.path);
    const ids = arr(p.identifier);
    let idx = ids.findIndex((i) => i?.system === SYSTEM.doctorCode && i.value);
    if (idx < 0) idx = ids.findIndex((i) => i?.value);
    paths.set('$.doctor.code', `${prac.path}.identifier${idx >= 0 ? `[${idx}]` : ''}`);
    paths.set('$.doctor.name', `${prac.path}.name`);
    rx.doctor = { code: idx >= 0 ? ids[idx].value : undefined, name: personName(arr(p.name)[0]) };
    if (idx < 0) issue(`${prac.path}.identifier`, 'FHIR_REQUIRED', `the Practitioner needs an identifier: the doctor's code registered with rxflow (${SYSTEM.doctorCode})`, '$.doctor.code');
  }

  // The patient: every line's subject, the same Patient.
  const subj = agree('$.patient', (mr) => target(mr.subject?.reference), 'subject');
  if (first && !subj) issue(`${first.path}.subject`, 'FHIR_REQUIRED', 'subject (the Patient) is required', '$.patient');
  const pat = subj ? deref(subj.entry.resource.subject, `${subj.entry.path}.subject`, ['Patient'], '$.patient') : undefined;
  const ctx: Ctx = { issue, deref, paths, mark };
  if (pat) rx.patient = mapPatient(pat, entries, ctx);

  // Lines.
  rx.lines = requests.map((e, i) => mapLine(e, i, catalogue, ctx));

  // An amended version of a rejected prescription: priorPrescription names the version it replaces, by
  // rxflow's MedicationRequest id (optional) and the version number (required, an extension).
  const prior = agree('$.amends', (mr) => (mr.priorPrescription ? JSON.stringify(mr.priorPrescription) : undefined), 'priorPrescription');
  if (prior) {
    const ref = prior.entry.resource.priorPrescription as Reference;
    const at = `${prior.entry.path}.priorPrescription`;
    const version = ext(ref, EXTENSION.amendsVersion)?.valueInteger;
    paths.set('$.amends.version', `${at}.extension`);
    paths.set('$.amends.prescriptionId', `${at}.reference`);
    const id = typeof ref.reference === 'string' ? /(?:^|\/)MedicationRequest\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-[0-9]+)?$/i.exec(ref.reference)?.[1] : undefined;
    if (ref.reference !== undefined && !id) issue(`${at}.reference`, 'FHIR_INVALID_VALUE', 'priorPrescription.reference must be rxflow\'s MedicationRequest/<prescription uuid>[-<line>] of the version amended', '$.amends.prescriptionId');
    if (version === undefined) issue(`${at}.extension`, 'FHIR_REQUIRED', `the version amended goes in the extension ${EXTENSION.amendsVersion} (valueInteger)`, '$.amends.version');
    rx.amends = { version, ...(id ? { prescriptionId: id.toLowerCase() } : {}) };
  }

  // Prescription-level extensions and codes.
  const mode = agree('$.fulfilment', (mr) => ext(mr, EXTENSION.fulfilmentMode)?.valueCode, 'extension');
  if (mode) rx.fulfilment = { mode: mode.value };
  const course = agree('$.chronic', (mr) => arr(mr.courseOfTherapyType?.coding).find((c) => c?.system === SYSTEM.courseOfTherapy)?.code, 'courseOfTherapyType');
  if (course) rx.chronic = course.value === 'continuous';
  const reason = agree('$.longTermReason', (mr) => ext(mr, EXTENSION.longTermReason)?.valueString, 'extension');
  if (reason) rx.longTermReason = reason.value;

  // Insurance: the Coverage the lines name.
  const cov = agree('$.insurance', (mr) => target(arr(mr.insurance)[0]?.reference), 'insurance[0]');
  if (cov) {
    const c = deref(cov.entry.resource.insurance[0], `${cov.entry.path}.insurance[0]`, ['Coverage'], '$.insurance');
    if (c) rx.insurance = mapCoverage(c, paths);
  }

  // The doctor's signature over the mapped prescription (docs/fhir.md, "Signature").
  if (!opts.unsigned) {
    const sig = bundle.signature as Signature | undefined;
    paths.set('$.signature', 'Bundle.signature');
    if (!isObj(sig)) issue('Bundle.signature', 'FHIR_REQUIRED', 'the prescriber\'s signature (Bundle.signature) is required', '$.signature');
    else {
      paths.set('$.signature.value', 'Bundle.signature.data');
      paths.set('$.signature.alg', 'Bundle.signature.extension');
      paths.set('$.signature.keyId', 'Bundle.signature.extension');
      rx.signature = { alg: ext(sig, EXTENSION.signatureAlg)?.valueCode, keyId: ext(sig, EXTENSION.signatureKeyId)?.valueString, value: sig.data };
      if (!rx.signature.alg) issue('Bundle.signature.extension', 'FHIR_REQUIRED', `the signature algorithm goes in the extension ${EXTENSION.signatureAlg} (valueCode)`, '$.signature.alg');
      if (!rx.signature.keyId) issue('Bundle.signature.extension', 'FHIR_REQUIRED', `the signing key id goes in the extension ${EXTENSION.signatureKeyId} (valueString)`, '$.signature.keyId');
      if (!sig.data) issue('Bundle.signature.data', 'FHIR_REQUIRED', 'Bundle.signature.data carries the signature (base64)', '$.signature.value');
      // The prescriber signs; a signature by anyone else is refused before any key is looked at.
      if (prac && sig.who?.reference) {
        const who = deref(sig.who, 'Bundle.signature.who', ['Practitioner']);
        if (who && who !== prac) issue('Bundle.signature.who.reference', 'FHIR_SIGNATURE_SIGNER', `the signature must be the prescriber's (${req!.entry.resource.requester.reference}); it names ${sig.who.reference}`);
      } else if (!sig.who?.reference) issue('Bundle.signature.who', 'FHIR_REQUIRED', 'Bundle.signature.who must reference the prescribing Practitioner');
    }
  }

  // The intake schema itself, so one answer lists every problem with its FHIR path.
  const schema = opts.unsigned ? PrescriptionSubmissionSchema.omit({ signature: true }) : PrescriptionSubmissionSchema;
  const parsed = schema.safeParse(rx);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const internal = '$' + i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      if ([...reported].some((r) => internal === r || internal.startsWith(`${r}.`) || internal.startsWith(`${r}[`))) continue;
      issues.push({ path: paths.toFhir(internal), code: 'FHIR_SCHEMA', message: `${internal.slice(2) || 'prescription'}: ${i.message} (${i.code})` });
    }
  }
  if (issues.length) return fail();
  return { ok: true, prescription: stripUndefined(rx), paths };
}

type IssueFn = (path: string, code: FhirIssueCode, message: string, internal?: string) => void;
type DerefFn = (ref: Reference | undefined, path: string, types: string[], internal?: string) => Entry | undefined;
interface Ctx { issue: IssueFn; deref: DerefFn; paths: PathMap; mark(internal: string): void }

function mapPatient(pat: Entry, entries: Entry[], { issue, deref, paths, mark }: Ctx): Record<string, unknown> {
  const p = pat.resource as Patient;
  const out: Record<string, any> = {};
  paths.set('$.patient', pat.path);
  const ids = arr(p.identifier);
  const isType = (id: Identifier, code: string) => arr(id?.type?.coding).some((c) => c?.system === SYSTEM.v2IdentifierType && c.code === code);
  let refIdx = ids.findIndex((i) => i?.system === SYSTEM.patientRef);
  if (refIdx < 0) refIdx = ids.findIndex((i) => isType(i, 'MR'));
  if (refIdx < 0) refIdx = ids.findIndex((i) => i?.value && !isType(i, 'NNCHN'));
  paths.set('$.patient.ref', `${pat.path}.identifier${refIdx >= 0 ? `[${refIdx}]` : ''}`);
  if (refIdx >= 0) out.ref = ids[refIdx].value;
  else issue(`${pat.path}.identifier`, 'FHIR_REQUIRED', `the Patient needs the hospital's patient id: an identifier with system ${SYSTEM.patientRef} or type MR`, '$.patient.ref');
  const nid = ids.findIndex((i) => isType(i, 'NNCHN'));
  if (nid >= 0) { out.idNumber = ids[nid].value; paths.set('$.patient.idNumber', `${pat.path}.identifier[${nid}]`); }

  out.name = personName(arr(p.name)[0]);
  paths.set('$.patient.name', `${pat.path}.name`);
  paths.set('$.patient.gender', `${pat.path}.gender`);
  if (p.gender === 'male') out.gender = 'M';
  else if (p.gender === 'female') out.gender = 'F';
  else issue(`${pat.path}.gender`, p.gender ? 'FHIR_UNSUPPORTED_VALUE' : 'FHIR_REQUIRED', `Patient.gender must be male or female for dosing and pregnancy checks; got ${p.gender ?? 'nothing'}`, '$.patient.gender');
  out.birthDate = p.birthDate;
  paths.set('$.patient.birthDate', `${pat.path}.birthDate`);

  const phones = arr(p.telecom).map((t, i) => ({ t, i })).filter(({ t }) => t?.system === 'phone');
  const phone = phones.find(({ t }) => t.use === 'mobile') ?? phones[0];
  paths.set('$.patient.phone', `${pat.path}.telecom${phone ? `[${phone.i}]` : ''}`);
  out.phone = phone?.t.value;

  const addr = arr(p.address)[0];
  paths.set('$.patient.address', `${pat.path}.address${addr ? '[0]' : ''}`);
  if (addr) {
    const geo = ext(addr, EXTENSION.geolocation);
    const lat = ext(geo, 'latitude')?.valueDecimal;
    const lng = ext(geo, 'longitude')?.valueDecimal;
    paths.set('$.patient.address.text', `${pat.path}.address[0].text`);
    paths.set('$.patient.address.lat', `${pat.path}.address[0].extension`);
    paths.set('$.patient.address.lng', `${pat.path}.address[0].extension`);
    out.address = { text: addr.text ?? [addr.state, addr.city, addr.district, ...arr(addr.line)].filter(Boolean).join(''), lat, lng };
    if (lat === undefined || lng === undefined) {
      // One issue says it for both coordinates.
      issue(`${pat.path}.address[0].extension`, 'FHIR_REQUIRED', `the address needs the ${EXTENSION.geolocation} extension (latitude, longitude) to match pharmacies`, '$.patient.address.lat');
      mark('$.patient.address.lng');
    }
  } else issue(`${pat.path}.address`, 'FHIR_REQUIRED', 'the Patient needs an address (delivery, pharmacy matching)', '$.patient.address');

  // A guardian (required under 6 by the rules) is a contact with the v3 role GUARD.
  const gIdx = arr(p.contact).findIndex((c) => arr(c?.relationship).some((r) => hasCode(r, SYSTEM.v3RoleCode, 'GUARD')));
  if (gIdx >= 0) {
    const c = p.contact![gIdx];
    const rel = arr(c.relationship).map((r) => r.text ?? arr(r.coding).find((x) => x.code !== 'GUARD')?.display).find(Boolean) ?? 'guardian';
    out.guardian = { name: personName(c.name), relation: rel, phone: arr(c.telecom).find((t) => t?.system === 'phone')?.value };
    paths.set('$.patient.guardian', `${pat.path}.contact[${gIdx}]`);
  } else paths.set('$.patient.guardian', `${pat.path}.contact`);

  // Allergies and pregnancy status of this patient.
  const about = (e: Entry, field: 'patient' | 'subject') => {
    const ref = e.resource[field] as Reference | undefined;
    if (!ref?.reference) return true; // in a one-patient Bundle an unattached statement is about that patient
    return deref(ref, `${e.path}.${field}`, ['Patient']) === pat;
  };
  const allergies: string[] = [];
  for (const e of entries.filter((x) => x.resource.resourceType === 'AllergyIntolerance')) {
    if (!about(e, 'patient')) continue;
    const name = display(e.resource.code);
    if (!name) { issue(`${e.path}.code`, 'FHIR_REQUIRED', 'AllergyIntolerance.code names the substance'); continue; }
    paths.set(`$.patient.allergies[${allergies.length}]`, `${e.path}.code`);
    allergies.push(name);
  }
  // Stated even when empty/false, as the JSON schema's defaults would: the signed form says what was checked.
  out.allergies = allergies;
  out.pregnant = false;
  for (const e of entries.filter((x) => x.resource.resourceType === 'Observation')) {
    const o = e.resource as Observation;
    if (!hasCode(o.code, SYSTEM.loinc, PREGNANCY.observation) || !about(e, 'subject')) continue;
    paths.set('$.patient.pregnant', `${e.path}.valueCodeableConcept`);
    if (hasCode(o.valueCodeableConcept, SYSTEM.snomed, PREGNANCY.pregnant)) out.pregnant = true;
    else if (hasCode(o.valueCodeableConcept, SYSTEM.snomed, PREGNANCY.notPregnant)) out.pregnant = false;
    else issue(`${e.path}.valueCodeableConcept`, 'FHIR_INVALID_VALUE', `pregnancy status needs SNOMED ${PREGNANCY.pregnant} (pregnant) or ${PREGNANCY.notPregnant} (not pregnant)`, '$.patient.pregnant');
  }
  Object.assign(out, clinicalObservations(entries.filter((x) => x.resource.resourceType === 'Observation' && about(x, 'subject')), { issue, paths, mark, deref }));
  return out;
}

/** Lactation, weight and renal function from Observations; absent stays absent (unknown), as in the JSON schema. */
function clinicalObservations(observations: Entry[], { issue, paths }: Ctx): Record<string, unknown> {
  const out: Record<string, any> = {};
  // Of several Observations of one kind, the latest effective one counts; without a date, the Bundle's first.
  const when = (o: Observation) => (typeof o.effectiveDateTime === 'string' ? o.effectiveDateTime : '');
  const latest = new Map<string, { e: Entry; at: string }>();
  const consider = (key: string, e: Entry) => {
    const at = when(e.resource);
    const cur = latest.get(key);
    if (!cur || at > cur.at) latest.set(key, { e, at });
  };
  for (const e of observations) {
    const codes = arr((e.resource as Observation).code?.coding).filter((c) => c?.system === SYSTEM.loinc).map((c) => String(c.code));
    if (codes.includes(LACTATION.observation)) consider('lactating', e);
    const m = codes.find((c) => MEASUREMENTS[c]);
    if (m) consider(MEASUREMENTS[m].field, e);
  }
  const lact = latest.get('lactating')?.e;
  if (lact) {
    const v = (lact.resource as Observation).valueCodeableConcept;
    paths.set('$.patient.lactating', `${lact.path}.valueCodeableConcept`);
    if (hasCode(v, SYSTEM.loinc, LACTATION.yes)) out.lactating = true;
    else if (hasCode(v, SYSTEM.loinc, LACTATION.no)) out.lactating = false;
    else issue(`${lact.path}.valueCodeableConcept`, 'FHIR_INVALID_VALUE', `breastfeeding status needs LOINC ${LACTATION.yes} (currently) or ${LACTATION.no} (not currently)`, '$.patient.lactating');
  }
  const renal: Record<string, unknown> = {};
  let measuredOn = '';
  let renalPath = '';
  for (const field of ['weightKg', 'egfr', 'crcl', 'creatinineUmolL'] as const) {
    const hit = latest.get(field);
    if (!hit) continue;
    const o = hit.e.resource as Observation;
    const code = arr(o.code?.coding).map((c) => String(c?.code)).find((c) => MEASUREMENTS[c]?.field === field)!;
    const q = o.valueQuantity;
    const internal = field === 'weightKg' ? '$.patient.weightKg' : `$.patient.renal.${field}`;
    paths.set(internal, `${hit.e.path}.valueQuantity`);
    const factor = MEASUREMENTS[code].units[String(q?.code ?? q?.unit ?? '')];
    if (typeof q?.value !== 'number' || !factor) {
      issue(`${hit.e.path}.valueQuantity`, 'FHIR_INVALID_VALUE', `LOINC ${code} needs valueQuantity in ${Object.keys(MEASUREMENTS[code].units).join(' or ')}`, internal);
      continue;
    }
    const value = Number((q.value * factor).toFixed(1));
    if (field === 'weightKg') out.weightKg = value;
    else {
      renal[field] = value;
      renalPath ||= hit.e.path;
      if (hit.at.slice(0, 10) > measuredOn) { measuredOn = hit.at.slice(0, 10); paths.set('$.patient.renal.measuredOn', `${hit.e.path}.effectiveDateTime`); }
    }
  }
  if (Object.keys(renal).length) {
    paths.set('$.patient.renal', renalPath);
    out.renal = { ...renal, ...(measuredOn ? { measuredOn } : {}) };
  }
  return out;
}

function mapLine(e: Entry, i: number, catalogue: DrugCatalogue, { issue, deref, paths, mark }: Ctx): Record<string, unknown> {
  const mr = e.resource as MedicationRequest;
  const base = `$.lines[${i}]`;
  const line: Record<string, any> = {};
  paths.set(base, e.path);

  if (mr.intent && !['order', 'original-order', 'instance-order'].includes(mr.intent)) {
    issue(`${e.path}.intent`, 'FHIR_UNSUPPORTED_VALUE', `intent ${mr.intent} is not a prescription; use order`);
  }

  // The drug: medicationCodeableConcept, or a Medication in the Bundle, resolved against the catalogue.
  let cc: CodeableConcept | undefined = mr.medicationCodeableConcept;
  let ccPath = `${e.path}.medicationCodeableConcept`;
  if (!cc && mr.medicationReference) {
    const med = deref(mr.medicationReference, `${e.path}.medicationReference`, ['Medication'], `${base}.drugCode`);
    if (med) { cc = med.resource.code; ccPath = `${med.path}.code`; }
  }
  paths.set(`${base}.drugCode`, ccPath);
  if (!cc && !mr.medicationReference) issue(`${e.path}.medication[x]`, 'FHIR_REQUIRED', 'medicationCodeableConcept (or medicationReference) is required', `${base}.drugCode`);
  else if (cc) {
    const known = arr(cc.coding).map((c, k) => ({ c, k })).filter(({ c }) => (DRUG_SYSTEMS as readonly string[]).includes(c?.system ?? ''));
    if (!known.length) {
      issue(`${ccPath}.coding`, 'FHIR_UNKNOWN_DRUG_SYSTEM', `no coding rxflow can resolve; use one of ${DRUG_SYSTEMS.join(', ')}`, `${base}.drugCode`);
    } else {
      let drug: string | undefined;
      for (const { c, k } of known) {
        const hits = catalogue.resolve(c.system!, String(c.code ?? ''));
        const at = `${ccPath}.coding[${k}]`;
        if (!hits.length) { issue(at, 'FHIR_UNKNOWN_DRUG', `${c.code} is not a catalogue drug in ${c.system}`, `${base}.drugCode`); continue; }
        if (hits.length > 1) { issue(at, 'FHIR_AMBIGUOUS_DRUG', `${c.code} matches ${hits.length} catalogue drugs (${hits.join(', ')}); add the rxflow drug code`, `${base}.drugCode`); continue; }
        if (drug && drug !== hits[0]) { issue(at, 'FHIR_INCONSISTENT', `this coding is ${hits[0]} but an earlier coding is ${drug}`, `${base}.drugCode`); continue; }
        drug ??= hits[0];
        paths.set(`${base}.drugCode`, at);
      }
      line.drugCode = drug;
    }
  }

  // Quantity and supply.
  const dr = mr.dispenseRequest;
  paths.set(`${base}.quantity`, `${e.path}.dispenseRequest.quantity`);
  line.quantity = dr?.quantity?.value;
  paths.set(`${base}.days`, `${e.path}.dispenseRequest.expectedSupplyDuration`);
  const supply = dr?.expectedSupplyDuration;
  if (supply?.value !== undefined) {
    const per = DAYS_PER[supply.code ?? supply.unit ?? ''];
    if (per) line.days = supply.value * per;
    else issue(`${e.path}.dispenseRequest.expectedSupplyDuration`, 'FHIR_INVALID_VALUE', `expectedSupplyDuration must be in days (d) or weeks (wk); got ${supply.code ?? supply.unit ?? 'no unit'}`, `${base}.days`);
  }

  // Dosage: one instruction per line (an rxflow line has one dose, one frequency, one route).
  const dosages = arr(mr.dosageInstruction);
  const dPath = `${e.path}.dosageInstruction[0]`;
  for (const k of ['dosage', 'doseMg', 'frequency', 'timesPerDay', 'route']) paths.set(`${base}.${k}`, dPath);
  if (!isObj(dosages[0])) {
    issue(dPath, 'FHIR_REQUIRED', 'dosageInstruction (dose, timing, route) is required', `${base}.dosage`);
    for (const k of ['frequency', 'timesPerDay', 'route']) mark(`${base}.${k}`);
  } else {
    if (dosages.length > 1) issue(`${e.path}.dosageInstruction[1]`, 'FHIR_UNSUPPORTED_VALUE', 'one dosageInstruction per line; send a tapering or split regimen as separate lines');
    const d = dosages[0];
    const dose = arr(d.doseAndRate)[0]?.doseQuantity;
    paths.set(`${base}.dosage`, `${dPath}.doseAndRate[0].doseQuantity`);
    paths.set(`${base}.doseMg`, `${dPath}.doseAndRate[0].doseQuantity`);
    if (dose?.value === undefined) issue(`${dPath}.doseAndRate[0].doseQuantity`, 'FHIR_REQUIRED', 'the dose per administration (doseAndRate[0].doseQuantity, value and unit) is required', `${base}.dosage`);
    else {
      const unit = dose.unit ?? dose.code ?? '';
      line.dosage = `${dose.value}${unit}`;
      const ucum = dose.system === SYSTEM.ucum || !dose.system ? (dose.code ?? dose.unit) : undefined;
      if (ucum === 'mg') line.doseMg = dose.value;
      else if (ucum === 'g') line.doseMg = Number((dose.value * 1000).toFixed(3));
    }
    const timing = d.timing;
    paths.set(`${base}.frequency`, `${dPath}.timing`);
    paths.set(`${base}.timesPerDay`, `${dPath}.timing`);
    const code = arr(timing?.code?.coding).find((c) => c?.system === SYSTEM.timingAbbreviation)?.code;
    const rep = timing?.repeat;
    let perDay: number | undefined;
    if (rep?.frequency !== undefined && rep.periodUnit && PERIOD_PER_DAY[rep.periodUnit]) perDay = (rep.frequency * PERIOD_PER_DAY[rep.periodUnit]) / (rep.period ?? 1);
    else if (code && TIMES_PER_DAY[code]) perDay = TIMES_PER_DAY[code];
    if (perDay === undefined) issue(`${dPath}.timing`, 'FHIR_REQUIRED', `timing needs repeat.frequency/period/periodUnit (d or h) or a code in ${SYSTEM.timingAbbreviation} (QD, BID, TID, QID, Q8H, ...)`, `${base}.timesPerDay`);
    else if (!Number.isInteger(perDay) || perDay < 1) issue(`${dPath}.timing`, 'FHIR_UNSUPPORTED_VALUE', `${perDay} administrations a day; rxflow lines take a whole number per day (at least 1)`, `${base}.timesPerDay`);
    else { line.timesPerDay = perDay; line.frequency = code ? String(code).toLowerCase() : FREQUENCY_OF[perDay] ?? `${perDay}/d`; }
    if (perDay === undefined || !Number.isInteger(perDay) || perDay < 1) mark(`${base}.frequency`);
    paths.set(`${base}.route`, `${dPath}.route`);
    const route = d.route ? d.route.text ?? arr(d.route.coding).find((c) => c?.display)?.display ?? ROUTES[arr(d.route.coding).find((c) => c?.system === SYSTEM.snomed)?.code ?? ''] : undefined;
    if (route) line.route = route;
    else issue(`${dPath}.route`, 'FHIR_REQUIRED', 'route (text, a coding display, or a SNOMED CT route code) is required', `${base}.route`);
  }

  // Substitution: allowed only when the doctor says so (default no).
  const sub = mr.substitution;
  if (sub) {
    paths.set(`${base}.allowSubstitution`, `${e.path}.substitution`);
    if (sub.allowedBoolean !== undefined) line.allowSubstitution = sub.allowedBoolean;
    else if (sub.allowedCodeableConcept) line.allowSubstitution = arr(sub.allowedCodeableConcept.coding).some((c) => ['E', 'EC', 'G', 'TE'].includes(c?.code ?? ''));
  }
  return line;
}

function mapCoverage(c: Entry, paths: PathMap): Record<string, unknown> {
  const cov = c.resource as Coverage;
  paths.set('$.insurance', c.path);
  const planIdx = arr(cov.class).findIndex((k) => hasCode(k?.type, SYSTEM.coverageClass, 'plan'));
  paths.set('$.insurance.planId', `${c.path}.class${planIdx >= 0 ? `[${planIdx}]` : ''}`);
  paths.set('$.insurance.memberId', `${c.path}.subscriberId`);
  paths.set('$.insurance.visitType', `${c.path}.extension`);
  paths.set('$.insurance.deductibleUsedFen', `${c.path}.extension`);
  paths.set('$.insurance.paidThisYearFen', `${c.path}.extension`);
  const fen = (url: string) => {
    const m = ext(cov, url)?.valueMoney;
    return m?.value === undefined ? undefined : Math.round(m.value * 100);
  };
  return {
    planId: planIdx >= 0 ? cov.class![planIdx].value : undefined,
    memberId: cov.subscriberId ?? arr(cov.identifier)[0]?.value,
    visitType: ext(cov, EXTENSION.insuranceVisitType)?.valueCode,
    deductibleUsedFen: fen(EXTENSION.deductibleUsed),
    paidThisYearFen: fen(EXTENSION.paidThisYear),
  };
}

/** Undefined members are dropped, so the signed canonical form and the stored content are the same object. */
function stripUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map(stripUndefined) as T;
  if (!isObj(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, stripUndefined(x)])) as T;
}
