// Pharmacists: the review queue, one prescription with the patient's context, claims (leases), approve or
// reject with reason codes, and the signed decision. Rules live in domain/review.ts; docs/review.md.
import Router from '@koa/router';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { PatientSchema, PharmacistSchema, PrescriptionLineSchema, PrescriptionSchema, ReviewSchema, type Pharmacist, type Prescription } from '../../db/entities';
import { reviewUpdate } from '../../workflows/prescription';
import { REASON_CATEGORIES, REASON_CODES, checkDecision, checkLicence, isBlockingFinding } from '../../domain/review';
import { signDecision, verifyDecision, type DecisionStatement } from '../../domain/review-signature';
import { ageInYears } from '../../domain/rules';
import { audit } from '../../activities/audit';
import { ensureSigningKey } from '../../engine/pharmacist-keys';
import type { Principal } from '../auth';
import { authorize, can } from '../access';
import { ApiError, notFound } from '../errors';
import { sendUpdate } from '../workflows';
import { requestOrigin } from '../origin';
import { summary, visiblePrescription } from './prescriptions';
import { countBySeverity, readFindings } from '../../domain/review-checks';
import type { ApiDeps } from '../app';

export const ReviewBody = z.object({
  decision: z.enum(['approve', 'reject']),
  reasons: z.array(z.string().min(1).max(40)).max(10).default([]),
  comment: z.string().max(2000).optional(),
  overrideReason: z.string().max(1000).optional(),
});

export interface Claim { pharmacistCode: string; pharmacistName: string; claimedAt: string; expiresAt: string }
interface ClaimRow { pharmacist_id: string; code: string; name: string; claimed_at: Date | string; expires_at: Date | string }
const claimOf = (r: ClaimRow): Claim => ({ pharmacistCode: r.code, pharmacistName: r.name, claimedAt: iso(r.claimed_at), expiresAt: iso(r.expires_at) });
/** Raw queries hand timestamps back as the driver parses them (a string here); the API says ISO 8601 UTC. */
const iso = (d: Date | string) => new Date(d).toISOString();

/** Raw SQL inside a transaction (the claim is one conditional statement; MikroORM's query builder cannot say it). */
const sqlIn = (t: EntityManager) => <T = any>(query: string, params: unknown[] = []): Promise<T> =>
  t.getConnection().execute(query, params, 'all', t.getTransactionContext()) as Promise<T>;

/** The active (unexpired) claim on a prescription, if any. */
async function activeClaim(em: EntityManager, prescriptionId: string): Promise<ClaimRow | null> {
  const [row] = await sqlIn(em)<ClaimRow[]>(
    `select c.pharmacist_id, ph.code, ph.name, c.claimed_at, c.expires_at from review_claim c join pharmacist ph on ph.id = c.pharmacist_id
      where c.prescription_id = ? and c.expires_at > now()`, [prescriptionId]);
  return row ?? null;
}

const claimedByOther = (c: ClaimRow) =>
  new ApiError(409, 'CLAIMED_BY_OTHER', `claimed by ${c.name} (${c.code}) until ${iso(c.expires_at)}`, [{ path: '$.claim', message: `${c.code} until ${iso(c.expires_at)}` }]);

/** The queue's page size: 1–200 (more is read as 200), 50 when not given. */
const QueueQuery = z.object({ limit: z.coerce.number().int().min(1).default(50).transform((n) => Math.min(n, 200)) });

export function reviewRoutes(deps: ApiDeps): Router {
  const r = new Router();

  /** The calling pharmacist, refused unless their licence is on record and valid today. */
  async function licensedPharmacist(em: EntityManager, principal: Principal): Promise<Pharmacist> {
    const p = await em.findOneOrFail(PharmacistSchema, { id: principal.partyId });
    const licence = checkLicence(p, new Date());
    if (!licence.ok) throw new ApiError(403, 'PHARMACIST_NOT_LICENSED', `${p.name} (${p.code}) may not review: ${licence.message}`, [{ path: '$.pharmacist.license', code: licence.reason, message: licence.message }]);
    return p;
  }

  r.get('/v1/review/reason-codes', authorize('catalog.read'), async (ctx) => {
    ctx.body = { items: REASON_CODES, categories: Object.entries(REASON_CATEGORIES).map(([code, l]) => ({ code, ...l })) };
  });

  // Most escalated first, then those with a blocking finding, then the oldest (domain/review.ts byUrgency).
  r.get('/v1/review-queue', authorize('review.queue'), async (ctx) => {
    // Parsed, not Number()ed: -1, 1.5 or -1e309 reached PostgreSQL's LIMIT and came back as a 500.
    const { limit } = QueueQuery.parse(ctx.query);
    const em = deps.orm.em.fork();
    const rows = await sqlIn(em)<(ClaimRow & { id: string; hospital_code: string; hospital_name: string })[]>(
      `select p.id, h.code as hospital_code, h.name as hospital_name, c.pharmacist_id, ph.code, ph.name, c.claimed_at, c.expires_at
         from prescription p join hospital h on h.id = p.hospital_id
         left join review_claim c on c.prescription_id = p.id and c.expires_at > now()
         left join pharmacist ph on ph.id = c.pharmacist_id
        where p.status = 'in_review'
        order by p.review_escalations desc,
                 exists (select 1 from jsonb_array_elements(p.flags) f where f->>'severity' in ('block', 'serious')) desc,
                 p.created_at asc, p.id
        limit ?`, [limit]);
    const byId = new Map((await em.find(PrescriptionSchema, { id: { $in: rows.map((x) => x.id) } })).map((p) => [p.id, p]));
    ctx.body = {
      items: rows.filter((row) => byId.has(row.id)).map((row) => {
        const rx = byId.get(row.id)!;
        const content = rx.content as any;
        return {
          ...summary(rx),
          hospital: { code: row.hospital_code, name: row.hospital_name },
          department: content.visit?.department,
          patient: { name: content.patient?.name, gender: content.patient?.gender, age: ageInYears(content.patient?.birthDate, rx.issuedAt) },
          version: rx.version,
          amendsId: rx.amendsId,
          // Flags stored before findings had severity 'serious'; readFindings reads it as 'block'.
          flags: readFindings(rx.flags),
          seriousFlags: rx.flags.filter(isBlockingFinding).length,
          blockingFlags: rx.flags.filter(isBlockingFinding).length,
          findingCounts: countBySeverity(readFindings(rx.flags)),
          escalations: rx.reviewEscalations,
          claim: row.pharmacist_id ? claimOf(row) : null,
        };
      }),
    };
  });

  r.get('/v1/review-queue/:id', authorize('review.open'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'review.open');
    const em = deps.orm.em.fork();
    const lines = await em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
    // The patient's recent prescriptions through rxflow: by the patient row, or the hospital's patient id for rows from before it.
    const history = await em.find(PrescriptionSchema, {
      $or: [{ hospitalId: rx.hospitalId, patientRef: rx.patientRef }, ...(rx.patientId ? [{ patientId: rx.patientId }] : [])],
      id: { $ne: rx.id },
    }, { orderBy: { createdAt: 'desc' }, limit: 20 });
    const historyLines = await em.find(PrescriptionLineSchema, { prescriptionId: { $in: history.map((h) => h.id) } }, { orderBy: { lineNo: 'asc' } });
    const historyReviews = new Map((await em.find(ReviewSchema, { prescriptionId: { $in: history.map((h) => h.id) } })).map((v) => [v.prescriptionId, v]));
    const patient = rx.patientId ? await em.findOne(PatientSchema, { id: rx.patientId }) : null;
    const content = rx.content as any;
    const p = content.patient ?? {};
    const claim = await activeClaim(em, rx.id);
    ctx.body = {
      prescription: {
        ...summary(rx), flags: readFindings(rx.flags), lines, visit: content.visit, diagnoses: content.diagnoses, doctor: content.doctor,
        chronic: content.chronic ?? false, longTermReason: content.longTermReason ?? null,
        version: rx.version, amendsId: rx.amendsId, escalations: rx.reviewEscalations,
      },
      patient: {
        id: patient?.id ?? null,
        name: p.name, gender: p.gender, sex: p.gender, birthDate: p.birthDate, age: ageInYears(p.birthDate, rx.issuedAt),
        allergies: p.allergies ?? [], diagnoses: content.diagnoses ?? [],
        pregnant: p.pregnant ?? false, lactating: p.lactating ?? p.lactation ?? p.breastfeeding ?? false,
        renal: p.renal ?? null, weightKg: p.weightKg ?? null, guardian: p.guardian ?? null,
      },
      findings: readFindings(rx.flags),
      findingCounts: countBySeverity(readFindings(rx.flags)),
      claim: claim ? claimOf(claim) : null,
      history: history.map((h) => ({
        ...summary(h), version: h.version,
        drugs: historyLines.filter((l) => l.prescriptionId === h.id).map((l) => ({ drugCode: l.drugCode, drugName: l.drugName, quantity: l.quantity, days: l.days })),
        review: historyReviews.has(h.id) ? { decision: historyReviews.get(h.id)!.decision, reasons: historyReviews.get(h.id)!.reasons, decidedAt: historyReviews.get(h.id)!.decidedAt } : null,
      })),
    };
  });

  // One conditional statement decides a race: insert the claim, or take it over only when it is this
  // pharmacist's own (renewal) or has expired. A concurrent claimant waits on the row and then sees the
  // winner's claim, so exactly one of two pharmacists gets it.
  r.post('/v1/review-queue/:id/claim', authorize('review.claim'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'review.claim');
    const em = deps.orm.em.fork();
    const pharmacist = await licensedPharmacist(em, ctx.state.principal);
    if (rx.status !== 'in_review') throw new ApiError(409, 'NOT_AWAITING_REVIEW', `prescription is ${rx.status}, not awaiting review`);
    const result = await em.transactional(async (t) => {
      const sql = sqlIn(t);
      const [row] = await sql<(ClaimRow & { renewed: boolean })[]>(
        `with c as (
           insert into review_claim (prescription_id, pharmacist_id, claimed_at, expires_at)
           values (?, ?, now(), now() + make_interval(secs => ?))
           on conflict (prescription_id) do update
             set pharmacist_id = excluded.pharmacist_id,
                 claimed_at = case when review_claim.pharmacist_id = excluded.pharmacist_id and review_claim.expires_at > now() then review_claim.claimed_at else excluded.claimed_at end,
                 expires_at = excluded.expires_at
             where review_claim.pharmacist_id = excluded.pharmacist_id or review_claim.expires_at <= now()
           returning pharmacist_id, claimed_at, expires_at, xmax <> 0 as updated)
         -- A renewal updated the row and kept its claimed_at; an insert or a takeover set it to this transaction's
         -- now(). (Comparing claimed_at < now() miscounted two simultaneous claims of one pharmacist as two new
         -- claims when the later transaction had started first.)
         select c.pharmacist_id, ?::text as code, ?::text as name, c.claimed_at, c.expires_at, (c.updated and c.claimed_at <> now()) as renewed from c`,
        [rx.id, pharmacist.id, deps.config.reviewClaimMs / 1000, pharmacist.code, pharmacist.name]);
      if (!row) return { won: false as const };
      if (!row.renewed) audit(t, rx.id, { action: 'review_claimed', actor: `pharmacist:${pharmacist.code}`, data: { expiresAt: iso(row.expires_at) }, origin: requestOrigin(ctx) });
      return { won: true as const, row };
    });
    if (!result.won) {
      const holder = await activeClaim(em, rx.id);
      // Gone between the two statements (released or expired that instant): ask again.
      if (!holder) throw new ApiError(409, 'CLAIMED_BY_OTHER', 'the claim changed hands just now; try again');
      throw claimedByOther(holder);
    }
    ctx.body = { claim: { ...claimOf(result.row), renewed: result.row.renewed } };
  });

  r.post('/v1/review-queue/:id/release', authorize('review.claim'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'review.claim');
    const principal = ctx.state.principal as Principal;
    const em = deps.orm.em.fork();
    const pharmacist = await em.findOneOrFail(PharmacistSchema, { id: principal.partyId });
    // A lead pharmacist (review.reassign) may release anyone's claim, so a stuck review can move on.
    const reassign = can(principal, 'review.reassign');
    const released = await em.transactional(async (t) => {
      const rows = await sqlIn(t)<{ pharmacist_id: string }[]>(
        `delete from review_claim where prescription_id = ? and (pharmacist_id = ? or ?::boolean) returning pharmacist_id`, [rx.id, pharmacist.id, reassign]);
      if (rows.length) {
        const other = rows[0].pharmacist_id !== pharmacist.id;
        audit(t, rx.id, { action: 'review_released', actor: `pharmacist:${pharmacist.code}`, origin: requestOrigin(ctx), ...(other ? { data: { claimOf: rows[0].pharmacist_id, by: 'lead_pharmacist' } } : {}) });
      }
      return rows.length > 0;
    });
    if (!released) {
      const holder = await activeClaim(em, rx.id);
      if (holder) throw claimedByOther(holder);
    }
    ctx.body = { released, claim: null };
  });

  r.post('/v1/prescriptions/:id/review', authorize('review.decide'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'review.decide');
    const body = ReviewBody.parse(ctx.request.body ?? {});
    const em = deps.orm.em.fork();
    const pharmacist = await licensedPharmacist(em, ctx.state.principal);
    const claim = await activeClaim(em, rx.id);
    if (!claim || claim.pharmacist_id !== pharmacist.id) {
      throw new ApiError(409, 'CLAIM_REQUIRED', claim
        ? `claim the prescription first: it is claimed by ${claim.name} (${claim.code}) until ${iso(claim.expires_at)}`
        : 'claim the prescription first (POST /v1/review-queue/:id/claim); you hold no active claim on it');
    }
    const problems = checkDecision(body, readFindings(rx.flags));
    if (problems.length) throw new ApiError(422, problems[0].code, problems.map((p) => p.message).join('; '), problems.map((p) => ({ path: p.path, code: p.code, message: p.message })));

    const key = await ensureSigningKey(em, pharmacist.id, deps.config.reviewKeySecret);
    const statement = statementOf(rx, pharmacist, {
      decision: body.decision, reasons: body.reasons, comment: body.comment?.trim() || null,
      overrideReason: body.decision === 'approve' ? body.overrideReason?.trim() || null : null, decidedAt: new Date().toISOString(),
    });
    const signature = { ...signDecision(statement, key, pharmacist.id, deps.config.reviewKeySecret), licenseNo: statement.pharmacist.licenseNo };
    const state = await sendUpdate(deps.temporal, rx.workflowId, reviewUpdate, {
      pharmacistCode: pharmacist.code, decision: body.decision, reasons: statement.reasons,
      comment: statement.comment ?? undefined, overrideReason: statement.overrideReason ?? undefined, decidedAt: statement.decidedAt, signature,
      origin: requestOrigin(ctx),
    });
    ctx.status = 202;
    ctx.body = { prescription: summary(rx), workflow: state, review: { ...statement, signature } };
  });

  // The stored decision and whether its signature still verifies against the pharmacist's registered key.
  r.get('/v1/prescriptions/:id/review', authorize('review.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'review.read');
    const em = deps.orm.em.fork();
    const review = await em.findOne(ReviewSchema, { prescriptionId: rx.id });
    if (!review) throw notFound('review');
    const pharmacist = await em.findOneOrFail(PharmacistSchema, { id: review.pharmacistId });
    const statement = statementOf(rx, pharmacist, {
      decision: review.decision === 'approved' ? 'approve' : 'reject', reasons: review.reasons, comment: review.comment,
      overrideReason: review.overrideReason, decidedAt: review.decidedAt.toISOString(),
    }, review.signature?.licenseNo);
    const verification = review.signature ? verifyDecision(statement, review.signature, pharmacist.signingKey?.publicKey ?? null) : { valid: false, reason: 'unsigned' };
    ctx.body = { review: { ...statement, signature: review.signature }, verification };
  });

  return r;
}

/** The licence number is the one signed at the time (a renewed licence gets a new number; old signatures still verify). */
function statementOf(rx: Prescription, p: Pharmacist, d: Pick<DecisionStatement, 'decision' | 'reasons' | 'comment' | 'overrideReason' | 'decidedAt'>, licenseNo?: string): DecisionStatement {
  return {
    prescriptionId: rx.id, rxNo: rx.rxNo, version: rx.version, contentHash: rx.contentHash,
    decision: d.decision, reasons: d.reasons, comment: d.comment, overrideReason: d.overrideReason, decidedAt: d.decidedAt,
    pharmacist: { code: p.code, licenseNo: licenseNo ?? p.licenseNo ?? '' },
  };
}
