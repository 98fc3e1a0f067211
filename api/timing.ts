// Where intake's time goes, per request: signature verification, validation (schema + prescribing
// rules), database and workflow start. Cheap (two performance.now() per step); sent back as a
// Server-Timing header (what bench/intake.ts reads) and observed into rxflow_intake_phase_seconds.
import { intakePhaseDuration } from '../engine/metrics';

export type IntakePhase = 'signature' | 'validation' | 'database' | 'workflow_start';

export class PhaseTimer {
  readonly ms: Partial<Record<IntakePhase, number>> = {};
  private readonly t0 = performance.now();

  /** Times fn (sync or async) and adds its duration to the phase; a phase may be entered several times. */
  time<T>(phase: IntakePhase, fn: () => T): T {
    const s = performance.now();
    const add = () => { this.ms[phase] = (this.ms[phase] ?? 0) + performance.now() - s; };
    const r = fn();
    if (r instanceof Promise) return r.finally(add) as T;
    add();
    return r;
  }

  /** `signature;dur=0.41, validation;dur=1.20, …, intake;dur=9.8` (ms, the whole intake last). */
  header(): string {
    const parts = Object.entries(this.ms).map(([k, v]) => `${k};dur=${v.toFixed(2)}`);
    return [...parts, `intake;dur=${(performance.now() - this.t0).toFixed(2)}`].join(', ');
  }

  observe(): void {
    for (const [phase, v] of Object.entries(this.ms)) intakePhaseDuration.observe({ phase }, v / 1000);
  }
}
