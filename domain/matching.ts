// Pharmacy ranking: of the pharmacies that can fill every line, nearest first (in 1 km bands, since
// a few hundred metres matter less to a patient than price), then cheapest, then fastest promise.
import type { Fen, GeoPoint } from './types';

export interface PharmacyCandidate {
  pharmacyCode: string;
  name: string;
  distanceKm: number;
  totalPriceFen: Fen;
  promisedMinutes: number;
}

const EARTH_RADIUS_KM = 6371.0088;

export function haversineKm(a: GeoPoint, b: GeoPoint): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
}

export function rankCandidates(candidates: PharmacyCandidate[], bandKm = 1): PharmacyCandidate[] {
  return [...candidates].sort(
    (x, y) =>
      Math.floor(x.distanceKm / bandKm) - Math.floor(y.distanceKm / bandKm) ||
      x.totalPriceFen - y.totalPriceFen ||
      x.promisedMinutes - y.promisedMinutes ||
      x.pharmacyCode.localeCompare(y.pharmacyCode),
  );
}
