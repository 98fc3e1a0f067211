// Delivery partners: which partner carries a parcel (docs/delivery.md). Pure functions, no I/O: the
// dispatch activity loads the registry and the order, this decides.
import { haversineKm } from './matching';

export interface GeoPoint { lat: number; lng: number }

export const PARTNER_CAPABILITIES = ['cold_chain', 'same_day', 'express_30min'] as const;
export type PartnerCapability = (typeof PARTNER_CAPABILITIES)[number];

/**
 * Where a partner delivers: administrative region codes (GB/T 2260) and/or a centre with a radius.
 * `anywhere`: partners registered before service areas existed (the migration's backfill).
 */
export interface ServiceArea { regions?: string[]; centre?: GeoPoint; radiusKm?: number; anywhere?: boolean }

export interface PartnerProfile {
  code: string;
  active: boolean;
  area: ServiceArea;
  capabilities: PartnerCapability[];
  /** Promised minutes from dispatch to the door, per capability; `standard` for a parcel needing none. */
  promisedMinutes: Partial<Record<PartnerCapability | 'standard', number>>;
}

export interface DropOff { regionCode: string | null; point: GeoPoint | null }

/**
 * The significant prefix of a region code: trailing "00" pairs name the whole of the level above, so a
 * partner serving 330100 (Hangzhou) serves 330106 (Xihu district), and 330000 the whole province.
 */
export function regionPrefix(code: string): string {
  let c = code.trim();
  while (c.length > 2 && c.endsWith('00')) c = c.slice(0, -2);
  return c;
}

export function servesArea(area: ServiceArea, to: DropOff): boolean {
  if (area.anywhere) return true;
  const byRegion = !!to.regionCode && (area.regions ?? []).some((r) => to.regionCode!.startsWith(regionPrefix(r)));
  const byRadius = !!to.point && !!area.centre && typeof area.radiusKm === 'number' && haversineKm(area.centre, to.point) <= area.radiusKm;
  return byRegion || byRadius;
}

/** What a parcel needs: cold chain when any line is stored at 2–8 ℃, and what the patient chose. */
export function neededCapabilities(o: { coldChain: boolean; extra?: PartnerCapability[] }): PartnerCapability[] {
  return [...new Set<PartnerCapability>([...(o.coldChain ? ['cold_chain' as const] : []), ...(o.extra ?? [])])];
}

/**
 * The window a partner promises for a parcel needing `needs`: the slowest of the needed capabilities'
 * windows (all must hold), `standard` when nothing special is needed. Infinity when it promises none.
 */
export function promisedWindow(p: PartnerProfile, needs: PartnerCapability[]): number {
  const windows = (needs.length ? needs : ['standard' as const]).map((c) => p.promisedMinutes[c] ?? p.promisedMinutes.standard);
  return windows.some((w) => w === undefined) ? Infinity : Math.max(...(windows as number[]));
}

export type Ineligible = 'inactive' | 'outside_area' | `missing_${PartnerCapability}` | 'failed_last_attempt';

export interface PartnerChoice {
  chosen: PartnerProfile | null;
  /** Every eligible partner, best first. */
  ranked: { code: string; promisedMinutes: number }[];
  /** Why each other partner was not eligible (for the audit and the NoPartner message). */
  excluded: { code: string; reasons: Ineligible[] }[];
}

/**
 * Eligible: active, serves the drop-off, has every needed capability, and is not the partner whose attempt
 * just failed (unless no other partner is eligible: a second try with the same partner beats none).
 * Ranked by the promised window, then by code, so the choice is stable.
 */
export function choosePartner(partners: PartnerProfile[], o: { to: DropOff; needs: PartnerCapability[]; lastFailed?: string | null }): PartnerChoice {
  const excluded: PartnerChoice['excluded'] = [];
  const fit: PartnerProfile[] = [];
  for (const p of partners) {
    const reasons: Ineligible[] = [];
    if (!p.active) reasons.push('inactive');
    if (!servesArea(p.area, o.to)) reasons.push('outside_area');
    for (const c of o.needs) if (!p.capabilities.includes(c)) reasons.push(`missing_${c}`);
    if (reasons.length) excluded.push({ code: p.code, reasons });
    else fit.push(p);
  }
  const byWindow = (a: PartnerProfile, b: PartnerProfile) =>
    promisedWindow(a, o.needs) - promisedWindow(b, o.needs) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
  let eligible = fit.sort(byWindow);
  if (o.lastFailed && eligible.length > 1 && eligible.some((p) => p.code === o.lastFailed)) {
    excluded.push({ code: o.lastFailed, reasons: ['failed_last_attempt'] });
    eligible = eligible.filter((p) => p.code !== o.lastFailed);
  }
  return {
    chosen: eligible[0] ?? null,
    ranked: eligible.map((p) => ({ code: p.code, promisedMinutes: promisedWindow(p, o.needs) })),
    excluded: excluded.sort((a, b) => (a.code < b.code ? -1 : 1)),
  };
}
