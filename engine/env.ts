// Reading numbers from the environment, the one way every settings module does it: unset or empty means
// the default; anything else must be a finite number at or above `min`, or the process refuses to start.
export function envNumber(name: string, fallback: number, min = -Infinity): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number${min > -Infinity ? ` ≥ ${min}` : ''}, got ${v}`);
  return n;
}
