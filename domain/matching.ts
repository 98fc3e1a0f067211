// Pharmacy matching rules: which pharmacies may be offered an order, and in what order. Elasticsearch
// finds the pharmacies that stock every line near the patient; these pure functions decide the rest,
// and every candidate carries its score breakdown so an operator can see why it ranked where it did.
import type { Fen, GeoPoint } from './types';

/**
 * Generic substitution: another manufacturer's SKU may replace the prescribed one only where the
 * prescription allows it, and only with the same generic name, strength and dosage form. The strength
 * is the specification before its pack size (0.3g×20粒 → 0.3g), so a different pack size still counts.
 */
export function substitutionKey(d: { genericNameZh: string; spec: string; dosageForm: string }): string {
  return `${d.genericNameZh}|${d.spec.split('×')[0].trim()}|${d.dosageForm}`;
}

/** Which SKU fills a prescription line at a pharmacy: the prescribed one, or an allowed substitute. */
export interface LineFill { lineNo: number; prescribed: string; drugCode: string }

/** What we know about one pharmacy that stocks every line. */
export interface CandidateFacts {
  pharmacyCode: string;
  name: string;
  distanceKm: number;
  deliveryRadiusKm: number;
  totalPriceFen: Fen;          // at the pharmacy's own prices
  patientPaysFen: Fen;         // after the insurance pre-check at those prices
  promisedMinutes: number;
  /** The tightest line: available units ÷ units prescribed. */
  stockMargin: number;
  /** Share of offers this pharmacy accepted recently; null when it has no history. */
  acceptanceRate: number | null;
  /** The SKU each line would be filled with here. */
  fills: LineFill[];
}

export interface ScoreWeights { distance: number; price: number; margin: number; reliability: number }

/** Defaults: what the patient pays and how near matter most; reliability next; a thin shelf least. */
export const DEFAULT_WEIGHTS: ScoreWeights = { distance: 0.35, price: 0.35, margin: 0.1, reliability: 0.2 };

/** Reliability assumed for a pharmacy with no offer history yet. */
export const NEW_PHARMACY_RELIABILITY = 0.8;
/** A margin of this many times the prescribed quantity counts as a full shelf. */
export const FULL_MARGIN = 5;

export interface ScoreBreakdown { distance: number; price: number; margin: number; reliability: number; total: number }
export interface PharmacyCandidate extends CandidateFacts { score: ScoreBreakdown }

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Each component is in [0, 1], 1 best: distance 1 − d/radius; price cheapest-patient-pays ÷ this one's;
 * margin min(stockMargin / 5, 1); reliability the acceptance rate (0.8 without history). The total is
 * their weighted sum. Ties go to the faster promise, then the code, so the order is deterministic.
 */
export function scoreCandidates(facts: CandidateFacts[], radiusKm: number, weights: ScoreWeights = DEFAULT_WEIGHTS): PharmacyCandidate[] {
  const cheapest = Math.min(...facts.map((f) => f.patientPaysFen));
  const scored = facts.map((f): PharmacyCandidate => {
    const distance = 1 - Math.min(f.distanceKm / radiusKm, 1);
    const price = f.patientPaysFen === 0 ? 1 : cheapest / f.patientPaysFen;
    const margin = Math.min(f.stockMargin / FULL_MARGIN, 1);
    const reliability = f.acceptanceRate ?? NEW_PHARMACY_RELIABILITY;
    const total = weights.distance * distance + weights.price * price + weights.margin * margin + weights.reliability * reliability;
    return { ...f, score: { distance: round3(distance), price: round3(price), margin: round3(margin), reliability: round3(reliability), total: round3(total) } };
  });
  return scored.sort((a, b) => b.score.total - a.score.total || a.promisedMinutes - b.promisedMinutes || a.pharmacyCode.localeCompare(b.pharmacyCode));
}

/** Delivery goes only as far as the pharmacy delivers. */
export const withinDeliveryRadius = (f: Pick<CandidateFacts, 'distanceKm' | 'deliveryRadiusKm'>) => f.distanceKm <= f.deliveryRadiusKm;

/** Minutes since midnight of an "HH:MM" time; "24:00" is 1440. */
export function minuteOfDay(hhmm: string): number {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new Error(`not a time of day: ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Open at `minute`? Hours that close after midnight (22:00–02:00) wrap around. */
export function isOpenAt(hours: { open: string; close: string }, is24h: boolean, minute: number): boolean {
  if (is24h) return true;
  const open = minuteOfDay(hours.open);
  const close = minuteOfDay(hours.close);
  return close > open ? minute >= open && minute < close : minute >= open || minute < close;
}

/** Minute of the day in China (UTC+8, no daylight saving) at an instant. */
export const chinaMinuteOfDay = (at: Date) => Math.floor(((at.getTime() / 60_000) + 8 * 60) % 1440);

const EARTH_RADIUS_KM = 6371.0088;

export function haversineKm(a: GeoPoint, b: GeoPoint): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
}
