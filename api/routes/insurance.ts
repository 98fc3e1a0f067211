// Insurance (docs/insurance.md): a prescription's settlement and its reversal; the loaded policy versions.
import Router from '@koa/router';
import { authorize } from '../access';
import { ApiError } from '../errors';
import type { ApiDeps } from '../app';
import { visiblePrescription } from './prescriptions';
import { maskMemberId } from '../../domain/masking';

export function insuranceRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const sql = (q: string, params: unknown[] = []) => deps.orm.em.fork().getConnection().execute(q, params);

  /** The pre-check, the settlement written at dispensing, and its reversal (if any): the money trail of one prescription. */
  r.get('/v1/prescriptions/:id/settlement', authorize('settlement.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'settlement.read');
    // Partial fills (docs/dispensing.md): one settlement per fill; `settlement` is the first, `fills` lists each.
    const all = await sql(
      `select id, plan_id, plan_year, policy_version, visit_type, commercial_plan_id, total_fen, insurer_pays_fen, commercial_pays_fen,
              patient_pays_fen, deductible_applied_fen, engine, lines, created_at, reversed_at, fill_no from settlement where prescription_id = ? order by fill_no`, [rx.id]);
    const [s] = all;
    if (!s) throw new ApiError(404, 'NOT_SETTLED', `prescription ${rx.rxNo} has no settlement: it is written when the pharmacy dispenses`);
    const [rev] = await sql(`select id, reason, actor, total_fen, insurer_pays_fen, commercial_pays_fen, patient_pays_fen, lines, created_at from settlement_reversal where settlement_id = ?`, [s.id]);
    ctx.body = {
      precheck: rx.pricing,
      settlement: {
        // The member number is not stored with the settlement (only its keyed hash): shown masked, from the prescription.
        id: s.id, planId: s.plan_id, memberId: s.plan_id ? maskMemberId((rx.content as { insurance?: { memberId?: string } }).insurance?.memberId) || null : null, planYear: s.plan_year, policyVersion: s.policy_version, visitType: s.visit_type,
        commercialPlanId: s.commercial_plan_id, totalFen: s.total_fen, insurerPaysFen: s.insurer_pays_fen, commercialPaysFen: s.commercial_pays_fen,
        patientPaysFen: s.patient_pays_fen, deductibleAppliedFen: s.deductible_applied_fen, engine: s.engine, lines: s.lines, createdAt: s.created_at, reversedAt: s.reversed_at,
      },
      reversal: rev ? {
        id: rev.id, reason: rev.reason, actor: rev.actor, totalFen: rev.total_fen, insurerPaysFen: rev.insurer_pays_fen, commercialPaysFen: rev.commercial_pays_fen,
        patientPaysFen: rev.patient_pays_fen, lines: rev.lines, createdAt: rev.created_at,
      } : null,
      fills: all.map((f: any) => ({
        fillNo: f.fill_no, id: f.id, totalFen: f.total_fen, insurerPaysFen: f.insurer_pays_fen, commercialPaysFen: f.commercial_pays_fen,
        patientPaysFen: f.patient_pays_fen, deductibleAppliedFen: f.deductible_applied_fen, lines: f.lines, createdAt: f.created_at, reversedAt: f.reversed_at,
      })),
    };
  });

  /** The policy versions loaded from catalog/data/insurance (which rules priced what, and from when). */
  r.get('/v1/insurance/policies', authorize('insurance.policies'), async (ctx) => {
    const rows = await sql(`select region, version, title, to_char(effective_from, 'YYYY-MM-DD') as effective_from, to_char(effective_to, 'YYYY-MM-DD') as effective_to,
      plans, drug_list, commercial_plans, sha256, source_file, loaded_at from insurance_policy order by region, version`);
    ctx.body = {
      items: rows.map((p) => ({
        region: p.region, version: p.version, title: p.title, effectiveFrom: p.effective_from, effectiveTo: p.effective_to,
        plans: p.plans, drugList: p.drug_list, commercialPlans: p.commercial_plans, sha256: p.sha256, sourceFile: p.source_file, loadedAt: p.loaded_at,
      })),
    };
  });
  return r;
}
