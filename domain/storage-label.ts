// What a parcel's label says about keeping it (贮藏): the strictest storage of its lines decides, since the
// parcel travels as one. Pure.
import type { Storage } from './types';

const STRICTNESS: Record<Storage, number> = { normal: 0, cool: 1, cold: 2 };

/** The label's storage lines, in Chinese with the temperatures (GSP: 常温 10–30 ℃, 阴凉 ≤20 ℃, 冷藏 2–8 ℃). */
export function storageLabel(storages: readonly Storage[]): string[] {
  const strictest = storages.reduce<Storage>((a, b) => (STRICTNESS[b] > STRICTNESS[a] ? b : a), 'normal');
  switch (strictest) {
    // Refrigerated drugs here are insulin and biologics: kept in the dark and never frozen.
    case 'cold': return ['冷藏 2–8 ℃', '请勿冷冻', '避光'];
    case 'cool': return ['阴凉 ≤20 ℃', '避光'];
    default: return ['常温 10–30 ℃'];
  }
}
