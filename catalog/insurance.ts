// The insurance policy files (catalog/data/insurance/<region>.v<N>.json): validated, loaded into
// PostgreSQL idempotently, read back as the pricing engine's input (domain/insurance-plans.ts picks the
// version in effect on a prescription's date). Run by the seed; docs/insurance.md.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { canonicalJson } from '../domain/canonical';
import type { PolicyVersion } from '../domain/insurance-plans';

export const INSURANCE_DIR = path.join(__dirname, 'data', 'insurance');
const FILE = /^([0-9A-Za-z-]+)\.v(\d+)\.json$/;

const permille = z.number().int().min(0).max(1000);
const fen = z.number().int().min(0);
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const PolicyFileSchema = z.object({
  region: z.string().min(1).max(20),
  version: z.number().int().min(1),
  title: z.string().optional(),
  effectiveFrom: isoDate,
  effectiveTo: isoDate.nullable().default(null),
  plans: z.array(z.object({
    id: z.string().min(1).max(40), name: z.string().min(1),
    deductibleFen: fen, chronicDeductibleFen: fen.optional(),
    ratioPermille: z.object({ outpatient: permille, chronic_special: permille }),
    classBSelfPayPermille: permille, annualCapFen: fen,
  })).min(1),
  drugList: z.record(z.string(), z.object({ class: z.enum(['A', 'B', 'none']), selfPayPermille: permille.optional() })).default({}),
  commercialPlans: z.array(z.object({
    id: z.string().min(1).max(40), name: z.string().min(1), ratioPermille: permille,
    covers: z.array(z.enum(['not_listed', 'class_b_self_pay', 'deductible', 'copay', 'over_cap'])).min(1), annualLimitFen: fen,
  })).default([]),
});

export class PolicyFileError extends Error {}
export interface PolicyFile extends PolicyVersion { file: string; sha256: string; title?: string }

/** Every policy file of `dir`, validated; the file name must match the region and version inside it. */
export function readInsuranceFiles(dir = INSURANCE_DIR): PolicyFile[] {
  return readdirSync(dir).filter((f) => FILE.test(f)).sort().map((file) => {
    const [, region, version] = FILE.exec(file)!;
    let raw: unknown;
    try { raw = JSON.parse(readFileSync(path.join(dir, file), 'utf8')); } catch (e) { throw new PolicyFileError(`${file}: ${(e as Error).message}`); }
    const parsed = PolicyFileSchema.safeParse(raw);
    if (!parsed.success) throw new PolicyFileError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const p = parsed.data;
    if (p.region !== region || p.version !== Number(version)) throw new PolicyFileError(`${file}: names region ${p.region} version ${p.version}`);
    if (p.effectiveTo && p.effectiveTo <= p.effectiveFrom) throw new PolicyFileError(`${file}: effectiveTo must be after effectiveFrom`);
    // Hash the canonical JSON: reformatting a file is not a content change.
    const sha256 = createHash('sha256').update(canonicalJson(raw), 'utf8').digest('hex');
    return { ...p, file, sha256 };
  });
}

export interface PolicyLoad { region: string; version: number; action: 'loaded' | 'unchanged' }

/**
 * Loads the versions not loaded yet, in one transaction. A loaded version is never changed: a file whose
 * content differs from what is loaded under its version is refused (a change needs a new version), so a
 * settlement's policy version always names the rules it was priced by.
 */
export async function loadInsurancePolicies(em: EntityManager, dir = INSURANCE_DIR): Promise<PolicyLoad[]> {
  const files = readInsuranceFiles(dir);
  return em.transactional(async (t) => {
    const sql = <T = any>(q: string, params: unknown[] = []) => t.getConnection().execute(q, params, 'all', t.getTransactionContext()) as Promise<T[]>;
    await sql(`lock table insurance_policy in share row exclusive mode`);
    const out: PolicyLoad[] = [];
    for (const f of files) {
      const [have] = await sql<{ sha256: string }>(`select sha256 from insurance_policy where region = ? and version = ?`, [f.region, f.version]);
      if (have && have.sha256 !== f.sha256) throw new PolicyFileError(`${f.file}: version ${f.version} of ${f.region} is loaded with other content; give the change a new version`);
      if (have) { out.push({ region: f.region, version: f.version, action: 'unchanged' }); continue; }
      await sql(
        `insert into insurance_policy (region, version, effective_from, effective_to, title, plans, drug_list, commercial_plans, sha256, source_file)
         values (?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb, ?, ?)`,
        [f.region, f.version, f.effectiveFrom, f.effectiveTo, f.title ?? null, JSON.stringify(f.plans), JSON.stringify(f.drugList), JSON.stringify(f.commercialPlans), f.sha256, f.file]);
      out.push({ region: f.region, version: f.version, action: 'loaded' });
    }
    return out;
  });
}

const day = (d: Date | string | null) => (d === null ? null : typeof d === 'string' ? d.slice(0, 10) : new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 10));

/** Every loaded policy version (a few rows per region: read whole, chosen by date in the domain). */
export async function readPolicies(run: (q: string, params?: unknown[]) => Promise<any[]>): Promise<PolicyVersion[]> {
  const rows = await run(`select region, version, to_char(effective_from, 'YYYY-MM-DD') as effective_from, to_char(effective_to, 'YYYY-MM-DD') as effective_to, plans, drug_list, commercial_plans from insurance_policy order by region, version`);
  return rows.map((r) => ({
    region: r.region, version: r.version, effectiveFrom: day(r.effective_from)!, effectiveTo: day(r.effective_to),
    plans: r.plans, drugList: r.drug_list, commercialPlans: r.commercial_plans,
  }));
}
