// When a parcel is promised and expected (docs/delivery.md, "ETA and lateness"). Pure: the delivery's
// facts and the configured speeds in, times out; the activities store them, the API shows them.

export interface EtaConfig {
  /** The promised window from dispatch when the partner offers nothing faster (RX_DELIVERY_WINDOW_MS). */
  defaultWindowMs: number;
  /** A same-day partner's window (RX_DELIVERY_SAME_DAY_WINDOW_MS). */
  sameDayWindowMs: number;
  /** A 30-minute partner's window (RX_DELIVERY_EXPRESS_WINDOW_MS); the registry may mark partners so. */
  expressWindowMs: number;
  /** From assignment until the courier has the parcel (RX_DELIVERY_PICKUP_LEAD_MS). */
  pickupLeadMs: number;
  /** Door-to-door time: a fixed part plus a part per km of the pharmacy's distance to the patient. */
  transitBaseMs: number;
  transitPerKmMs: number;
}

const MINUTE = 60_000;
export const DEFAULT_ETA_CONFIG: EtaConfig = {
  defaultWindowMs: 24 * 60 * MINUTE, sameDayWindowMs: 6 * 60 * MINUTE, expressWindowMs: 30 * MINUTE,
  pickupLeadMs: 20 * MINUTE, transitBaseMs: 10 * MINUTE, transitPerKmMs: 4 * MINUTE,
};

export interface PartnerCapability { sameDay: boolean; thirtyMinute?: boolean }

/** The end of the promised window: the fastest promise the partner makes, from dispatch. */
export function promisedBy(dispatchedAt: Date, partner: PartnerCapability, c: EtaConfig = DEFAULT_ETA_CONFIG): Date {
  const window = partner.thirtyMinute ? c.expressWindowMs : partner.sameDay ? c.sameDayWindowMs : c.defaultWindowMs;
  return new Date(dispatchedAt.getTime() + window);
}

/** Typical door-to-door time for a distance; unknown distance counts as 5 km (the default delivery radius). */
export function transitMs(distanceKm: number | null | undefined, c: EtaConfig = DEFAULT_ETA_CONFIG): number {
  const km = distanceKm == null || !Number.isFinite(distanceKm) ? 5 : Math.max(0, distanceKm);
  return Math.round(c.transitBaseMs + km * c.transitPerKmMs);
}

/**
 * The ETA once the delivery reached `status` at `at`: assigned → pickup lead + transit; picked_up → transit;
 * in_transit (out for delivery, partway) → half the transit; delivered or failed → none (it is over).
 */
export function etaFor(status: string, at: Date, distanceKm: number | null | undefined, c: EtaConfig = DEFAULT_ETA_CONFIG): Date | null {
  const transit = transitMs(distanceKm, c);
  switch (status) {
    case 'assigned': return new Date(at.getTime() + c.pickupLeadMs + transit);
    case 'picked_up': return new Date(at.getTime() + transit);
    case 'in_transit': return new Date(at.getTime() + Math.round(transit / 2));
    default: return null;
  }
}

/** Late: still under way (or handed over) after the promised window ended. No window (older deliveries): never late. */
export function isLate(promised: Date | null | undefined, at: Date): boolean {
  return !!promised && at.getTime() > promised.getTime();
}
