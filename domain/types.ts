// Shared value types of the prescription domain. Pure data: no I/O, no framework imports,
// so workflows, activities, the API and tests can all import it.

/** Money is always integer fen (1 yuan = 100 fen); never floats. */
export type Fen = number;

export type Role = 'hospital' | 'pharmacist' | 'pharmacy' | 'courier' | 'operator'
  // A lead pharmacist oversees every review; an auditor reads, verifies and exports the audit trail (docs/audit.md) and changes nothing.
  | 'lead_pharmacist' | 'auditor'
  // A patient (or a family member acting for them) holding a signed link to one prescription (docs/patient.md).
  | 'patient';

export type Storage = 'normal' | 'cool' | 'cold';
export type InsuranceClass = 'A' | 'B' | 'none';
export type BannedReason =
  | 'narcotic' | 'psychotropic' | 'toxic' | 'radioactive' | 'precursor'
  | 'vaccine' | 'blood_product' | 'injectable';

/** A catalogue drug (one SKU). Mirrors catalog/data/drugs.json. */
export interface Drug {
  code: string;
  genericNameZh: string;
  genericNameEn: string;
  brandNameZh: string | null;
  atcCode: string;
  category: string;
  dosageForm: string;
  spec: string;
  unit: string;
  rxClass: 'Rx' | 'OTC';
  insuranceClass: InsuranceClass;
  insuranceCode: string;
  approvalNumber: string;
  manufacturer: string;
  storage: Storage;
  onlineSaleAllowed: boolean;
  bannedReason: BannedReason | null;
  priceFen: Fen;
  chronic: boolean;
  maxDailyDoseMg: number | null;
  pregnancyCategory: 'safe' | 'caution' | 'contraindicated';
  minAgeYears: number | null;
}

export interface PharmacyInfo {
  code: string;
  name: string;
  city: string;
  district: string;
  address: string;
  lat: number;
  lng: number;
  phone: string;
  openingHours: { open: string; close: string };
  is24h: boolean;
  coldChain: boolean;
  kind: 'retail' | 'tcm' | 'dtp';
  promisedMinutes: number;
  /** How far it delivers; 5 km when the data does not say. */
  deliveryRadiusKm?: number;
}

export interface GeoPoint { lat: number; lng: number }
