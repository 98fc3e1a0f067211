// Persistence model (MikroORM, PostgreSQL is the source of truth). Plain interfaces + EntitySchema keep
// the domain free of decorators; relations to the prescription are real foreign keys.
import { EntitySchema } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { PrescriptionStatus, DeliveryStatus } from '../domain/prescription-status';
import type { PartnerCapability, PartnerProfile, ServiceArea } from '../domain/delivery';
import type { Role } from '../domain/types';
import type { ReviewFlag } from '../domain/review-checks';
import type { PrecheckResult } from '../domain/insurance';
import type { SignatureAlg } from '../domain/signature';
import { EncryptedText, ProtectedContent } from './protected-types';

// Ids are assigned at flush unless given; code that needs an id before the flush passes randomUUID() itself.
const uuid = () => ({ type: 'uuid', primary: true, onCreate: () => randomUUID() }) as const;
const ts = (nullable = false) => ({ type: 'Date', columnType: 'timestamptz', nullable }) as const;
const created = () => ({ type: 'Date', columnType: 'timestamptz', onCreate: () => new Date() }) as const;

// A hospital's signing keys live in their own table (HospitalSigningKeySchema below); the old jsonb column
// hospital.signing_keys is deprecated and no longer read.
export interface Hospital {
  id: string; code: string; name: string; regionCode: string; createdAt: Date;
  /** Request signing (docs/signing.md): off, optional or required; null follows RX_HOSPITAL_REQUEST_SIGNING. */
  requestSigning?: 'off' | 'optional' | 'required' | null;
  /** The HMAC secrets its systems sign requests with, sealed; at most two active (engine/signing-secrets.ts). */
  requestSecrets?: SigningSecret[];
}
export const HospitalSchema = new EntitySchema<Hospital>({
  name: 'Hospital',
  tableName: 'hospital',
  properties: {
    id: uuid(),
    code: { type: 'string', length: 40, unique: true },
    name: { type: 'string', length: 120 },
    /** Administrative division code (e.g. 330100 Hangzhou): reports and the supervision feed group by it. */
    regionCode: { type: 'string', length: 12, default: '330100' },
    createdAt: created(),
    requestSigning: { type: 'string', length: 10, nullable: true },
    requestSecrets: { type: 'json', default: '[]' },
  },
});

export interface Doctor { id: string; hospitalId: string; code: string; name: string; licenseNo: string; licensed: boolean; authorised: boolean }
export const DoctorSchema = new EntitySchema<Doctor>({
  name: 'Doctor',
  tableName: 'doctor',
  uniques: [{ properties: ['hospitalId', 'code'] }],
  properties: {
    id: uuid(),
    hospitalId: { type: 'uuid' },
    code: { type: 'string', length: 40 },
    name: { type: 'string', length: 60 },
    licenseNo: { type: 'string', length: 40 },
    licensed: { type: 'boolean' },
    authorised: { type: 'boolean' },
  },
});

export interface Pharmacist {
  id: string; code: string; name: string; licenseNo: string;
  /** Console login (api/auth.ts): an optional username besides the code, and the scrypt hash; null = no login. */
  username?: string | null; passwordHash?: string | null; passwordChangedAt?: Date | null;
}
export const PharmacistSchema = new EntitySchema<Pharmacist>({
  name: 'Pharmacist',
  tableName: 'pharmacist',
  properties: {
    id: uuid(),
    code: { type: 'string', length: 40, unique: true },
    name: { type: 'string', length: 60 },
    licenseNo: { type: 'string', length: 40 },
    username: { type: 'string', length: 60, nullable: true },
    passwordHash: { type: 'string', length: 255, nullable: true, lazy: true },
    passwordChangedAt: ts(true),
    // The pharmacist's review (docs/review.md): licence validity, lead pharmacist, server-held signing key.
    licenseValidFrom: { type: 'date', nullable: true },
    licenseValidTo: { type: 'date', nullable: true },
    lead: { type: 'boolean', default: false },
    signingKey: { type: 'json', nullable: true },
  },
});
/** Licence validity (both days included), a lead pharmacist is told of SLA breaches, the SM2 key signing their decisions. */
export interface Pharmacist { licenseValidFrom: string | null; licenseValidTo: string | null; lead: boolean; signingKey: import('../domain/review-signature').ReviewSigningKey | null }

/** One API key per party; only its SHA-256 is stored. */
export interface ApiClient { id: string; keyHash: string; role: Role; partyId: string; label: string; createdAt: Date }
export const ApiClientSchema = new EntitySchema<ApiClient>({
  name: 'ApiClient',
  tableName: 'api_client',
  properties: {
    id: uuid(),
    keyHash: { type: 'string', length: 64, unique: true },
    role: { type: 'string', length: 20 },
    partyId: { type: 'uuid' },
    label: { type: 'string', length: 120 },
    createdAt: created(),
    // Issue 6: this key's own requests per minute; null = its role's default (api/rate-limit.ts).
    rateLimitPerMinute: { type: 'integer', nullable: true },
    scopes: { type: 'string[]', columnType: 'text[]', nullable: true },
    keyPrefix: { type: 'string', length: 16, nullable: true },
    expiresAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    revokedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    revokedReason: { type: 'string', length: 300, nullable: true },
    createdBy: { type: 'string', length: 160, nullable: true },
    rotatedFrom: { type: 'uuid', nullable: true },
  },
});
export interface ApiClient { rateLimitPerMinute?: number | null }
/** A key's lifecycle (docs/security.md "API keys"): scopes, expiry, revocation; all null for the keys issued before. */
export interface ApiClient {
  scopes?: string[] | null; keyPrefix?: string | null; expiresAt?: Date | null; revokedAt?: Date | null;
  revokedReason?: string | null; createdBy?: string | null; rotatedFrom?: string | null;
}

/** A hospital's patient, as its latest prescription describes them; prescriptions keep their own snapshot. */
export interface Patient {
  id: string; hospitalId: string; ref: string; name: string; gender: 'M' | 'F'; birthDate: string; phone: string;
  idNumber: string | null; allergies: string[]; updatedAt: Date;
  /** The address of the latest prescription, as JSON text ({ text, lat, lng }). */
  address?: string | null;
  /** Keyed hashes (HMAC-SHA256) for lookups; the values themselves are encrypted (docs/data-protection.md). */
  idNumberHash?: string | null; phoneHash?: string | null;
  /** Set when an operator erased the personal data (POST /v1/ops/patients/:id/erase). */
  erasedAt?: Date | null;
}
export const PatientSchema = new EntitySchema<Patient>({
  name: 'Patient',
  tableName: 'patient',
  uniques: [{ properties: ['hospitalId', 'ref'] }],
  properties: {
    id: uuid(),
    hospitalId: { type: 'uuid' },
    ref: { type: 'string', length: 64 },
    name: { type: 'string', length: 60 },
    gender: { type: 'string', length: 1 },
    birthDate: { type: 'date' },
    // Encrypted at rest (AES-256-GCM, RX_DATA_KEYS): the ORM reads and writes plaintext.
    phone: { type: new EncryptedText('patient.phone'), columnType: 'text' },
    idNumber: { type: new EncryptedText('patient.id_number'), columnType: 'text', nullable: true },
    allergies: { type: 'json' },
    address: { type: new EncryptedText('patient.address'), columnType: 'text', nullable: true },
    idNumberHash: { type: 'string', length: 64, nullable: true },
    phoneHash: { type: 'string', length: 64, nullable: true },
    erasedAt: ts(true),
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
  },
});

export interface Prescription {
  id: string;
  hospitalId: string;
  rxNo: string;
  contentHash: string;
  status: PrescriptionStatus;
  content: Record<string, unknown>;   // the signed submission, as received
  doctorId: string;
  patientId: string | null;
  patientRef: string;
  issuedAt: Date;
  expiresAt: Date;
  flags: ReviewFlag[];
  pricing: PrecheckResult | null;
  workflowId: string;
  usedAt: Date | null;                // one prescription, one fill
  createdAt: Date;
  updatedAt: Date;
}
export const PrescriptionSchema = new EntitySchema<Prescription>({
  name: 'Prescription',
  tableName: 'prescription',
  uniques: [{ properties: ['hospitalId', 'rxNo', 'version'] }],
  indexes: [{ properties: ['status', 'createdAt'] }],
  properties: {
    id: uuid(),
    hospitalId: { type: 'uuid' },
    rxNo: { type: 'string', length: 64 },
    contentHash: { type: 'string', length: 64 },
    status: { type: 'string', length: 20 },
    // The patient's ID number, phone and address are encrypted at rest; readers get the signed content.
    content: { type: ProtectedContent },
    doctorId: { type: 'uuid' },
    patientId: { type: 'uuid', nullable: true },
    patientRef: { type: 'string', length: 64 },
    issuedAt: ts(),
    expiresAt: ts(),
    flags: { type: 'json' },
    pricing: { type: 'json', nullable: true },
    workflowId: { type: 'string', length: 120 },
    usedAt: ts(true),
    createdAt: created(),
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
    version: { type: 'integer', default: 1 },
    amendsId: { type: 'uuid', nullable: true },
    reviewEscalations: { type: 'integer', default: 0 },
    partialFill: { type: 'boolean', default: false },
    statusChangedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
  },
});
/** Versions under one number: an amendment of a rejected prescription is version n+1, amending version n. SLA escalations so far. */
export interface Prescription { version: number; amendsId: string | null; reviewEscalations: number }
/** Partial fills: true once the undispensed remainder was declared not dispensed (it goes on as a partial fill). */
export interface Prescription { partialFill: boolean }
/** When the status last changed (set with it by activities/audit.ts; the database's default at intake). */
export interface Prescription { statusChangedAt?: Date | null }

export interface PrescriptionLine {
  id: string; prescriptionId: string; lineNo: number; drugCode: string; drugName: string;
  quantity: number; dosage: string; frequency: string; route: string; days: number;
  /** Partial fills: units handed out so far, and units declared not dispensed (released, never billed). */
  dispensedQuantity: number; notDispensedQuantity: number;
}
export const PrescriptionLineSchema = new EntitySchema<PrescriptionLine>({
  name: 'PrescriptionLine',
  tableName: 'prescription_line',
  uniques: [{ properties: ['prescriptionId', 'lineNo'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    lineNo: { type: 'integer' },
    drugCode: { type: 'string', length: 40 },
    drugName: { type: 'string', length: 120 },
    quantity: { type: 'integer' },
    dosage: { type: 'string', length: 40 },
    frequency: { type: 'string', length: 20 },
    route: { type: 'string', length: 20 },
    days: { type: 'integer' },
    dispensedQuantity: { type: 'integer', default: 0 },
    notDispensedQuantity: { type: 'integer', default: 0 },
  },
});

export interface Review {
  id: string; prescriptionId: string; pharmacistId: string; decision: 'approved' | 'rejected';
  reasons: string[]; comment: string | null; decidedAt: Date;
}
export const ReviewSchema = new EntitySchema<Review>({
  name: 'Review',
  tableName: 'review',
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid', unique: true },
    pharmacistId: { type: 'uuid' },
    decision: { type: 'string', length: 10 },
    reasons: { type: 'json' },
    comment: { type: 'text', nullable: true },
    decidedAt: ts(),
    overrideReason: { type: 'text', nullable: true },
    signature: { type: 'json', nullable: true },
  },
});
/** Why an approval went ahead over a blocking finding; the pharmacist's signature over the decision (docs/review.md). */
export interface Review { overrideReason: string | null; signature: import('../domain/review-signature').ReviewSignature | null }

/** Catalogue master data; Elasticsearch indexes it for search, intake reads it from here. */
export interface DrugRow { code: string; genericNameZh: string; data: import('../domain/types').Drug; updatedAt: Date }
export const DrugSchema = new EntitySchema<DrugRow>({
  name: 'Drug',
  tableName: 'drug',
  properties: {
    code: { type: 'string', length: 40, primary: true },
    genericNameZh: { type: 'string', length: 120 },
    data: { type: 'json' },
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
  },
});

export interface Pharmacy {
  id: string; code: string; name: string; city: string; district: string; address: string;
  lat: number; lng: number; phone: string; openingHours: { open: string; close: string }; is24h: boolean;
  coldChain: boolean; kind: string; promisedMinutes: number; deliveryRadiusKm: number; updatedAt: Date;
}
export const PharmacySchema = new EntitySchema<Pharmacy>({
  name: 'Pharmacy',
  tableName: 'pharmacy',
  properties: {
    id: uuid(),
    code: { type: 'string', length: 40, unique: true },
    name: { type: 'string', length: 120 },
    city: { type: 'string', length: 40 },
    district: { type: 'string', length: 40 },
    address: { type: 'string', length: 200 },
    lat: { type: 'double' },
    lng: { type: 'double' },
    phone: { type: 'string', length: 40 },
    openingHours: { type: 'json' },
    is24h: { type: 'boolean' },
    coldChain: { type: 'boolean' },
    kind: { type: 'string', length: 10 },
    promisedMinutes: { type: 'integer' },
    deliveryRadiusKm: { type: 'double', default: 5 },
    /** Moved by a trigger on every real change (incremental catalogue loads select by it). */
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date() },
  },
});

/** Stock per pharmacy and drug. available = onHand - reserved, kept >= 0 by a conditional update. */
export interface Stock { pharmacyId: string; drugCode: string; onHand: number; reserved: number; priceFen: number; updatedAt: Date }
export const StockSchema = new EntitySchema<Stock>({
  name: 'Stock',
  tableName: 'stock',
  checks: [{ name: 'stock_not_oversold', expression: 'reserved >= 0 and reserved <= on_hand' }],
  properties: {
    pharmacyId: { type: 'uuid', primary: true },
    drugCode: { type: 'string', length: 40, primary: true },
    onHand: { type: 'integer' },
    reserved: { type: 'integer', default: 0 },
    priceFen: { type: 'integer' },
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
  },
});

export interface Reservation {
  id: string; prescriptionId: string; pharmacyId: string; drugCode: string; quantity: number;
  status: 'held' | 'committed' | 'released' | 'returned'; expiresAt: Date; createdAt: Date;
}
export const ReservationSchema = new EntitySchema<Reservation>({
  name: 'Reservation',
  tableName: 'reservation',
  indexes: [{ properties: ['prescriptionId'] }, { properties: ['status', 'expiresAt'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    pharmacyId: { type: 'uuid' },
    drugCode: { type: 'string', length: 40 },
    quantity: { type: 'integer' },
    status: { type: 'string', length: 10 },
    expiresAt: ts(),
    createdAt: created(),
  },
});

export interface FulfilmentOrder {
  id: string; prescriptionId: string; pharmacyId: string; attempt: number;
  status: 'offered' | 'accepted' | 'declined' | 'expired' | 'cancelled' | 'short' | 'dispensed';
  totalPriceFen: number; distanceKm: number; declineReason: string | null; offeredAt: Date; respondedAt: Date | null;
  /** The SKU filling each line (null on orders from before substitution existed: the prescribed SKUs). */
  fills: { lineNo: number; prescribed: string; drugCode: string }[] | null;
}
export const FulfilmentOrderSchema = new EntitySchema<FulfilmentOrder>({
  name: 'FulfilmentOrder',
  tableName: 'fulfilment_order',
  uniques: [{ properties: ['prescriptionId', 'attempt'] }],
  indexes: [{ properties: ['pharmacyId', 'status'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    pharmacyId: { type: 'uuid' },
    attempt: { type: 'integer' },
    status: { type: 'string', length: 12 },
    totalPriceFen: { type: 'integer' },
    distanceKm: { type: 'double' },
    declineReason: { type: 'string', length: 200, nullable: true },
    offeredAt: ts(),
    respondedAt: ts(true),
    fills: { type: 'json', nullable: true },
  },
});

/** What a pharmacy's pharmacist checked (核对) and handed out: one row per dispensing, packs below. */
export interface Dispensing {
  id: string; prescriptionId: string; orderId: string; pharmacyId: string; pharmacistName: string;
  findings: { code: string; lineNo: number; traceCode?: string; message: string }[]; dispensedAt: Date;
  /** Partial fills: the fill's number (1, 2, …) and its units per line. */
  fillNo: number; lines: { lineNo: number; quantity: number }[] | null;
}
export const DispensingSchema = new EntitySchema<Dispensing>({
  name: 'Dispensing',
  tableName: 'dispensing',
  // One prescription, one fill — which may be handed out in several parts by the pharmacy that accepted it.
  uniques: [{ properties: ['prescriptionId', 'fillNo'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    orderId: { type: 'uuid' },
    pharmacyId: { type: 'uuid' },
    pharmacistName: { type: 'string', length: 60 },
    findings: { type: 'json' },
    dispensedAt: ts(),
    fillNo: { type: 'integer', default: 1 },
    lines: { type: 'json', nullable: true },
  },
});

/** Every pack handed out, by its traceability code (药品追溯码); a code is dispensed once, ever. */
export interface DispensedPack {
  id: string; dispensingId: string; prescriptionId: string; lineNo: number; drugCode: string;
  traceCode: string; batchNo: string; expiryDate: string; createdAt: Date;
}
export const DispensedPackSchema = new EntitySchema<DispensedPack>({
  name: 'DispensedPack',
  tableName: 'dispensed_pack',
  indexes: [{ properties: ['prescriptionId'] }],
  properties: {
    id: uuid(),
    dispensingId: { type: 'uuid' },
    prescriptionId: { type: 'uuid' },
    lineNo: { type: 'integer' },
    drugCode: { type: 'string', length: 40 },
    traceCode: { type: 'string', length: 80, unique: true },
    batchNo: { type: 'string', length: 40 },
    expiryDate: { type: 'date' },
    createdAt: created(),
  },
});

/** A traceability code seen again: a re-sold pack (回流药), an insurance-fraud signal for operators. */
export interface TraceAlert {
  id: string; traceCode: string; prescriptionId: string; pharmacyId: string; firstPrescriptionId: string | null;
  kind: 'resold_pack'; insured: boolean; createdAt: Date; acknowledgedAt: Date | null;
}
export const TraceAlertSchema = new EntitySchema<TraceAlert>({
  name: 'TraceAlert',
  tableName: 'trace_alert',
  indexes: [{ properties: ['createdAt'] }],
  properties: {
    id: uuid(),
    traceCode: { type: 'string', length: 80 },
    prescriptionId: { type: 'uuid' },
    pharmacyId: { type: 'uuid' },
    firstPrescriptionId: { type: 'uuid', nullable: true },
    kind: { type: 'string', length: 20 },
    insured: { type: 'boolean' },
    createdAt: created(),
    acknowledgedAt: ts(true),
  },
});

/** The insurance settlement written at dispensing from what was actually handed out. */
export interface Settlement {
  id: string; prescriptionId: string; planId: string | null; totalFen: number; insurerPaysFen: number; patientPaysFen: number;
  lines: unknown[]; createdAt: Date; reversedAt: Date | null;
  // Who and which year it counts towards, and by which rules (docs/insurance.md); a reversal is its own row (settlement_reversal).
  /** Keyed hash (HMAC-SHA256) of the insurance member number: sums a member's year without storing the number. */
  memberHash?: string | null; planYear?: number | null; policyVersion?: number | null; visitType?: string | null;
  commercialPlanId?: string | null; commercialPaysFen?: number; deductibleAppliedFen?: number; engine?: string;
  /** One settlement per fill, at the quantities that fill handed out. */
  fillNo: number; dispensingId: string | null;
}
export const SettlementSchema = new EntitySchema<Settlement>({
  name: 'Settlement',
  tableName: 'settlement',
  uniques: [{ properties: ['prescriptionId', 'fillNo'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    planId: { type: 'string', length: 40, nullable: true },
    totalFen: { type: 'integer' },
    insurerPaysFen: { type: 'integer' },
    patientPaysFen: { type: 'integer' },
    lines: { type: 'json' },
    createdAt: created(),
    reversedAt: ts(true),
    memberHash: { type: 'string', length: 64, nullable: true },
    planYear: { type: 'integer', nullable: true },
    policyVersion: { type: 'integer', nullable: true },
    visitType: { type: 'string', length: 20, nullable: true },
    commercialPlanId: { type: 'string', length: 40, nullable: true },
    commercialPaysFen: { type: 'integer', default: 0 },
    deductibleAppliedFen: { type: 'integer', default: 0 },
    engine: { type: 'string', length: 10, default: 'rules' },
    fillNo: { type: 'integer', default: 1 },
    dispensingId: { type: 'uuid', nullable: true },
  },
});

export interface DeliveryPartner {
  id: string; code: string; name: string; coldChain: boolean; sameDay: boolean;
  // The registry (docs/delivery.md). secrets: [{ id, sealed (domain/field-crypto.ts), createdAt, expiresAt }].
  serviceArea: ServiceArea; capabilities: PartnerCapability[]; endpointUrl: string | null;
  secrets: PartnerSecret[]; active: boolean; promisedMinutes: PartnerProfile['promisedMinutes']; fullPhone: boolean; updatedAt: Date;
}
/** A sealed HMAC secret of a party that signs its requests (engine/signing-secrets.ts). */
export interface SigningSecret { id: string; sealed: string; createdAt: string; expiresAt: string | null }
export type PartnerSecret = SigningSecret;
export const DeliveryPartnerSchema = new EntitySchema<DeliveryPartner>({
  name: 'DeliveryPartner',
  tableName: 'delivery_partner',
  properties: {
    id: uuid(),
    code: { type: 'string', length: 40, unique: true },
    name: { type: 'string', length: 120 },
    coldChain: { type: 'boolean' },
    sameDay: { type: 'boolean' },
    serviceArea: { type: 'json', default: '{}' },
    capabilities: { type: 'json', default: '[]' },
    endpointUrl: { type: 'text', nullable: true },
    secrets: { type: 'json', default: '[]' },
    active: { type: 'boolean', default: true },
    promisedMinutes: { type: 'json', default: '{}' },
    fullPhone: { type: 'boolean', default: false },
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
  },
});

export interface DeliveryEvent { status: DeliveryStatus; at: string; note?: string; proof?: Record<string, unknown> }
export interface Delivery {
  id: string; prescriptionId: string; orderId: string; partnerId: string; attempt: number;
  status: DeliveryStatus; coldChain: boolean; events: DeliveryEvent[]; createdAt: Date; updatedAt: Date;
  /** The partner's own id for the delivery, from its adapter's answer (null: a partner that only polls). */
  partnerRef?: string | null;
  /** Proof of delivery (docs/delivery.md): the one-time code's keyed hash, never the code; wrong tries so far. Null on deliveries from before. */
  proofCodeHash?: string | null; proofCodeFailures?: number;
  /** The promised window's end, the latest ETA, the distance it was computed for, and when it was flagged late. */
  promisedBy?: Date | null; eta?: Date | null; distanceKm?: number | null; lateAt?: Date | null;
}
export const DeliverySchema = new EntitySchema<Delivery>({
  name: 'Delivery',
  tableName: 'delivery',
  uniques: [{ properties: ['prescriptionId', 'attempt'] }],
  indexes: [{ properties: ['partnerId', 'status'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    orderId: { type: 'uuid' },
    partnerId: { type: 'uuid' },
    attempt: { type: 'integer' },
    status: { type: 'string', length: 12 },
    coldChain: { type: 'boolean' },
    events: { type: 'json' },
    createdAt: created(),
    updatedAt: { type: 'Date', columnType: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() },
    partnerRef: { type: 'string', length: 100, nullable: true },
    proofCodeHash: { type: 'string', length: 64, nullable: true },
    proofCodeFailures: { type: 'integer', default: 0 },
    promisedBy: ts(true),
    eta: ts(true),
    distanceKm: { type: 'double', nullable: true },
    lateAt: ts(true),
  },
});

/** A cold-chain excursion a pharmacist decides (domain/cold-chain.ts, docs/delivery.md). */
export interface ColdChainExcursion {
  id: string; deliveryId: string; prescriptionId: string; rule: string; detail: Record<string, unknown>;
  firstAt: Date; lastAt: Date; status: 'open' | 'continue' | 'return'; escalations: number;
  decidedBy: string | null; decidedAt: Date | null; reason: string | null; createdAt: Date;
}
export const ColdChainExcursionSchema = new EntitySchema<ColdChainExcursion>({
  name: 'ColdChainExcursion',
  tableName: 'cold_chain_excursion',
  properties: {
    id: uuid(),
    deliveryId: { type: 'uuid' },
    prescriptionId: { type: 'uuid' },
    rule: { type: 'string', length: 20 },
    detail: { type: 'json' },
    firstAt: ts(),
    lastAt: ts(),
    status: { type: 'string', length: 10, default: 'open' },
    escalations: { type: 'integer', default: 0 },
    decidedBy: { type: 'string', length: 80, nullable: true },
    decidedAt: ts(true),
    reason: { type: 'string', length: 300, nullable: true },
    createdAt: created(),
  },
});

export interface FollowUp {
  id: string; prescriptionId: string; kind: 'adherence' | 'adverse_reaction' | 'refill_reminder' | 'check_in' | 'close';
  dueAt: Date; status: 'scheduled' | 'sent' | 'answered' | 'unanswered' | 'closed'; sentAt: Date | null;
}
export const FollowUpSchema = new EntitySchema<FollowUp>({
  name: 'FollowUp',
  tableName: 'follow_up',
  uniques: [{ properties: ['prescriptionId', 'kind'] }],
  properties: {
    id: uuid(),
    prescriptionId: { type: 'uuid' },
    kind: { type: 'string', length: 20 },
    dueAt: ts(),
    status: { type: 'string', length: 12 },
    sentAt: ts(true),
    why: { type: 'string', length: 200, nullable: true },
    remindedAt: ts(true),
    answeredAt: ts(true),
    answeredBy: { type: 'string', length: 80, nullable: true },
    questionnaire: { type: 'string', length: 10, nullable: true },
    answer: { type: 'json', nullable: true },
    closedAt: ts(true),
  },
});
/**
 * Follow-up as a subsystem (docs/follow-up.md): steps check_in, refill_reminder and close; the patient's
 * answer (questionnaire fu-1). ADR tasks (adr_task) and renewal requests (renewal_request) are read and
 * written in SQL (activities/follow-ups.ts).
 */
export interface FollowUp {
  why: string | null; remindedAt: Date | null; answeredAt: Date | null; answeredBy: string | null;
  questionnaire: string | null; answer: Record<string, unknown> | null; closedAt: Date | null;
}

/** Append-only: a database trigger refuses UPDATE and DELETE (see the initial migration). */
export interface AuditEvent {
  id: string; prescriptionId: string | null; action: string; actor: string;
  fromStatus: string | null; toStatus: string | null; data: Record<string, unknown>; at: Date;
  /** From where (the API's view of the caller), when a person or system called the API. */
  actorIp?: string | null; actorAgent?: string | null;
  /** Set by the trigger audit_event_chain (docs/audit.md); never written by the application. */
  dataDigest?: string; globalSeq?: string; rxSeq?: number | null; hash?: string; rxHash?: string | null; dataErasedAt?: Date | null;
}
export const AuditEventSchema = new EntitySchema<AuditEvent>({
  name: 'AuditEvent',
  tableName: 'audit_event',
  indexes: [{ properties: ['prescriptionId', 'id'] }],
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    prescriptionId: { type: 'uuid', nullable: true },
    action: { type: 'string', length: 40 },
    actor: { type: 'string', length: 120 },
    fromStatus: { type: 'string', length: 20, nullable: true },
    toStatus: { type: 'string', length: 20, nullable: true },
    data: { type: 'json' },
    at: created(),
    actorIp: { type: 'string', length: 64, nullable: true },
    actorAgent: { type: 'string', length: 300, nullable: true },
    dataDigest: { type: 'string', length: 64, nullable: true },
    globalSeq: { type: 'bigint', nullable: true },
    rxSeq: { type: 'integer', nullable: true },
    hash: { type: 'string', length: 64, nullable: true },
    rxHash: { type: 'string', length: 64, nullable: true },
    dataErasedAt: ts(true),
  },
});

/**
 * A public key a hospital's doctors sign prescriptions with (docs/signing.md). Several may be valid at once, so
 * a rotation registers the new key before the old one is revoked or runs out. Key ids are never reused, so a
 * signature stays attributable to exactly one key.
 */
export interface HospitalSigningKey {
  id: string; hospitalId: string; keyId: string; alg: SignatureAlg; publicKeyPem: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex: the same key cannot be registered twice by one hospital. */
  fingerprint: string;
  /** SM2 only: the signer ID hashed into Z_A; null = GB/T 35276's default "1234567812345678". */
  signerId: string | null;
  validFrom: Date; validTo: Date;
  revokedAt: Date | null; revokedReason: string | null; revokedBy: string | null;
  registeredBy: string; createdAt: Date;
}
export const HospitalSigningKeySchema = new EntitySchema<HospitalSigningKey>({
  name: 'HospitalSigningKey',
  tableName: 'hospital_signing_key',
  uniques: [{ properties: ['hospitalId', 'keyId'] }, { properties: ['hospitalId', 'fingerprint'] }],
  properties: {
    id: uuid(),
    hospitalId: { type: 'uuid' },
    keyId: { type: 'string', length: 64 },
    alg: { type: 'string', length: 16 },
    publicKeyPem: { type: 'text' },
    fingerprint: { type: 'string', length: 64 },
    signerId: { type: 'string', length: 64, nullable: true },
    validFrom: ts(),
    validTo: ts(),
    revokedAt: ts(true),
    revokedReason: { type: 'string', length: 200, nullable: true },
    revokedBy: { type: 'string', length: 120, nullable: true },
    registeredBy: { type: 'string', length: 120 },
    createdAt: created(),
  },
});

export const ENTITIES = [
  HospitalSchema, DoctorSchema, PatientSchema, PharmacistSchema, ApiClientSchema, PrescriptionSchema, PrescriptionLineSchema,
  ReviewSchema, DrugSchema, PharmacySchema, StockSchema, ReservationSchema, FulfilmentOrderSchema, DeliveryPartnerSchema,
  DeliverySchema, FollowUpSchema, AuditEventSchema, DispensingSchema, DispensedPackSchema, TraceAlertSchema, SettlementSchema,
  HospitalSigningKeySchema,
  ColdChainExcursionSchema,
];
