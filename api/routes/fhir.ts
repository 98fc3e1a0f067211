// The FHIR R4 face of the API (docs/fhir.md): hospitals push a signed Bundle, which is mapped to the
// internal prescription and handed to the SAME intake as a JSON push; anyone who may read a prescription
// reads it as MedicationRequest(s) and a Task. Errors are OperationOutcomes carrying the house codes.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Middleware, ParameterizedContext } from 'koa';
import type { Bundle, CapabilityStatement, FhirResource } from 'fhir/r4';
import {
  AuditEventSchema, DeliverySchema, DispensedPackSchema, DispensingSchema, DoctorSchema, DrugSchema, FulfilmentOrderSchema, HospitalSchema, PatientSchema,
  PharmacySchema, PrescriptionLineSchema, PrescriptionSchema, ReviewSchema, type Prescription,
} from '../../db/entities';
import { combinationOf, toHospitalOrganization, toMedicationDispenses, toPatient, toPharmacyOrganization, toPractitioner, type FillView } from '../../domain/fhir/dispense';
import { catalogueOf, mapFhirBundle, medicationCodings } from '../../domain/fhir/intake';
import { operationOutcome } from '../../domain/fhir/outcome';
import { isLate } from '../../domain/delivery-eta';
import { parseMedicationRequestId, searchSet, toMedicationRequests, toTask, type PrescriptionView } from '../../domain/fhir/resources';
import { RXFLOW_FHIR_NS, SYSTEM } from '../../domain/fhir/systems';
import type { Drug } from '../../domain/types';
import { authenticate, type Principal } from '../auth';
import { hospitalSignature } from '../request-signature';
import { authorize, scopeOf } from '../access';
import { rateLimit } from '../rate-limit';
import { ApiError, bodyError, errorHandler, notFound } from '../errors';
import { intakePrescription } from '../intake';
import { bodyTextGuard, urlTextGuard } from '../text-guard';
import { requestOrigin } from '../origin';
import { visiblePrescription } from './prescriptions';
import type { ApiDeps } from '../app';

export const FHIR_BASE = '/fhir/R4';
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** The house error handler, its answer rewritten as an OperationOutcome (the house code stays in it). */
const fhirErrors: Middleware = async (ctx, next) => {
  await errorHandler(ctx, next);
  const err = (ctx.body as { error?: { code: string; message: string; details: [] } } | undefined)?.error;
  if (ctx.status >= 400 && err?.code) {
    ctx.body = operationOutcome(ctx.status, err);
    ctx.type = FHIR_JSON;
  }
};

function send(ctx: ParameterizedContext, resource: FhirResource, status = 200): void {
  ctx.status = status;
  ctx.type = FHIR_JSON;
  ctx.body = resource;
}

/** Drugs the Bundle's codings name, by any of the systems rxflow resolves; the catalogue is never loaded whole. */
async function drugsFor(deps: ApiDeps, bundle: unknown): Promise<Drug[]> {
  const codings = medicationCodings(bundle);
  const of = (system: string) => [...new Set(codings.filter((c) => c.system === system).map((c) => c.code))];
  const [codes, insurance, approval] = [of(SYSTEM.drugCode), of(SYSTEM.insuranceDrugCode), of(SYSTEM.approvalNumber)];
  if (!codes.length && !insurance.length && !approval.length) return [];
  const knex = deps.orm.em.fork().getKnex();
  const list = (xs: string[]) => (xs.length ? xs : ['']).map(() => '?').join(',');
  const rows: { data: Drug }[] = await knex('drug').select('data')
    .whereIn('code', codes.length ? codes : [''])
    .orWhereRaw(`data->>'insuranceCode' in (${list(insurance)})`, insurance.length ? insurance : [''])
    .orWhereRaw(`data->>'approvalNumber' in (${list(approval)})`, approval.length ? approval : ['']);
  return rows.map((r) => (typeof r.data === 'string' ? JSON.parse(r.data) : r.data));
}

async function viewOf(deps: ApiDeps, rx: Prescription): Promise<PrescriptionView> {
  const em = deps.orm.em.fork();
  const lines = await em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
  const review = rx.status === 'rejected' ? await em.findOne(ReviewSchema, { prescriptionId: rx.id }) : null;
  return {
    id: rx.id, rxNo: rx.rxNo, status: rx.status, issuedAt: rx.issuedAt, expiresAt: rx.expiresAt, createdAt: rx.createdAt, updatedAt: rx.updatedAt,
    content: rx.content, lines, ...(review ? { rejection: { reasons: review.reasons, comment: review.comment } } : {}),
    patientId: rx.patientId, doctorId: rx.doctorId, combination: combinationOf(await fillViewOf(deps, rx)),
    delivery: await deliveryViewOf(deps, rx.id),
  };
}

/** The latest delivery's window, ETA and late flag for the Task (docs/delivery.md); null before dispatch. */
async function deliveryViewOf(deps: ApiDeps, prescriptionId: string): Promise<PrescriptionView['delivery']> {
  const [d] = await deps.orm.em.fork().find(DeliverySchema, { prescriptionId }, { orderBy: { attempt: 'desc' }, limit: 1 });
  if (!d || !d.promisedBy) return null; // deliveries from before windows existed: nothing to say
  const under = d.status !== 'delivered' && d.status !== 'failed';
  return { promisedBy: d.promisedBy, eta: under ? d.eta ?? null : null, late: !!d.lateAt || (under && isLate(d.promisedBy, new Date())) };
}

/** The prescription's fills and handover, as the status model reads them (domain/fhir/dispense.ts). */
async function fillViewOf(deps: ApiDeps, rx: Prescription): Promise<FillView> {
  const em = deps.orm.em.fork();
  const [lines, orders, acceptances, deliveries, fills] = await Promise.all([
    em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } }),
    em.find(FulfilmentOrderSchema, { prescriptionId: rx.id }, { orderBy: { attempt: 'asc' } }),
    // closeOffer overwrites an order's status; whether the pharmacy ever accepted it is in the audit trail.
    em.find(AuditEventSchema, { prescriptionId: rx.id, action: 'pharmacy_accepted' }),
    em.find(DeliverySchema, { prescriptionId: rx.id }, { orderBy: { attempt: 'desc' }, limit: 1 }),
    // A partial fill and its remainder are two dispensings: the packs of every fill count, the latest dates it.
    em.find(DispensingSchema, { prescriptionId: rx.id }, { orderBy: { dispensedAt: 'desc' } }),
  ]);
  const dispensing = fills[0] ?? null;
  const accepted = new Set(acceptances.map((a) => String(a.data.orderId)));
  const packs = fills.length ? await em.find(DispensedPackSchema, { dispensingId: { $in: fills.map((f) => f.id) } }) : [];
  const packsByLine: Record<number, number> = {};
  for (const p of packs) packsByLine[p.lineNo] = (packsByLine[p.lineNo] ?? 0) + 1;
  const mode = (rx.content as { fulfilment?: { mode?: 'delivery' | 'pickup' } }).fulfilment?.mode ?? 'delivery';
  return {
    prescriptionId: rx.id, status: rx.status, patientId: rx.patientId, mode, delivery: deliveries[0]?.status ?? null, remainderNotDispensed: rx.partialFill,
    orders: orders.map((o) => ({ id: o.id, attempt: o.attempt, pharmacyId: o.pharmacyId, status: o.status, declineReason: o.declineReason, accepted: accepted.has(o.id) })),
    lines, dispensed: dispensing ? { orderId: dispensing.orderId, at: dispensing.dispensedAt, packsByLine } : null,
  };
}

/**
 * Whether the caller may read a party (patient, doctor, hospital, pharmacy) the FHIR resources reference:
 * by the prescription.read policy's scope. `any` reads all; a hospital (`own`) its own; `assigned` (a
 * pharmacist) a party of a prescription it may read. `prescriptionIds` are the prescriptions referencing it.
 */
async function mayReadParty(deps: ApiDeps, principal: Principal, hospitalId: string | null, prescriptionIds: () => Promise<string[]>): Promise<boolean> {
  const scope = scopeOf(principal, 'prescription.read');
  if (scope === 'any') return true;
  if (scope === 'own') return principal.role === 'hospital' && hospitalId !== null && principal.partyId === hospitalId;
  if (scope !== 'assigned') return false;
  for (const id of await prescriptionIds()) {
    try { await visiblePrescription(deps, principal, id); return true; } catch { /* not this one */ }
  }
  return false;
}
const rxIdsWhere = (deps: ApiDeps, where: Record<string, string>) => async () =>
  (await deps.orm.em.fork().find(PrescriptionSchema, where, { fields: ['id'], limit: 50, orderBy: { createdAt: 'desc' } })).map((r) => r.id);
const UUID_ONLY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const INTAKE_TAG = `${RXFLOW_FHIR_NS}/CodeSystem/intake-outcome`;

export function fhirRoutes(deps: ApiDeps): Router {
  const r = new Router({ prefix: FHIR_BASE });
  const readers = authorize('prescription.read');

  // Primary: POST /fhir/R4/Bundle. POST /fhir/R4 (a transaction to the base) is the same intake.
  const push: Middleware = async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const bundle = ctx.request.body;
    const mapped = mapFhirBundle(bundle, catalogueOf(await drugsFor(deps, bundle)));
    if (!mapped.ok) {
      throw new ApiError(400, 'FHIR_BUNDLE_INVALID', `the Bundle does not map to a prescription: ${mapped.issues.length} problem(s)`,
        mapped.issues.map((i) => ({ path: i.path, code: i.code, message: i.message })));
    }
    let result;
    try {
      result = await intakePrescription(
        { orm: deps.orm, temporal: deps.temporal, taskQueue: deps.config.taskQueue, timings: deps.config.timings },
        principal.partyId, mapped.prescription, undefined, requestOrigin(ctx), ctx.state.signingParty);
    } catch (e) {
      // Intake speaks of the mapped prescription ($.lines[0].drugCode); the FHIR client hears of its Bundle.
      if (e instanceof ApiError) throw new ApiError(e.status, e.code, e.message, e.details.map((d) => ({ ...d, path: mapped.paths.toFhir(d.path) })));
      throw e;
    }
    const { prescription, duplicate } = result;
    const view = await viewOf(deps, prescription);
    const task = toTask(view);
    const answer: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      meta: { tag: [{ system: INTAKE_TAG, code: duplicate ? 'duplicate' : 'created', display: duplicate ? 'already received; nothing new was created' : 'created' }] },
      identifier: { system: SYSTEM.prescriptionId, value: prescription.id },
      entry: [task, ...toMedicationRequests(view)].map((resource) => ({ fullUrl: `${ctx.origin}${FHIR_BASE}/${resource.resourceType}/${resource.id}`, resource })),
    };
    ctx.set('Location', `${FHIR_BASE}/Task/${prescription.id}`);
    send(ctx, answer, duplicate ? 200 : 201);
  };
  r.post('/Bundle', authorize('prescription.push'), push);
  r.post('/', authorize('prescription.push'), push);

  // MedicationRequest/<uuid>-<n> is one line; MedicationRequest/<uuid> is every line of the prescription (a searchset).
  r.get('/MedicationRequest/:id', readers, async (ctx) => {
    const ref = parseMedicationRequestId(ctx.params.id);
    if (!ref) throw notFound('MedicationRequest');
    const view = await viewOf(deps, await visiblePrescription(deps, ctx.state.principal, ref.prescriptionId));
    const mrs = toMedicationRequests(view);
    if (ref.lineNo === null) return send(ctx, searchSet(mrs, `${ctx.origin}${FHIR_BASE}`, ctx.href));
    const one = mrs.find((m) => m.id === ctx.params.id.toLowerCase());
    if (!one) throw notFound('MedicationRequest');
    send(ctx, one);
  });

  // Search by the one parameter rxflow supports; an unknown or another tenant's focus is 404, as a read would be.
  r.get('/Task', readers, async (ctx) => {
    const focus = typeof ctx.query.focus === 'string' ? ctx.query.focus : undefined;
    const id = focus && /(?:^|\/)MedicationRequest\/([^/]+)$/.exec(focus)?.[1];
    if (!focus) throw new ApiError(400, 'FHIR_SEARCH_UNSUPPORTED', 'search Task by focus=MedicationRequest/<id>', [{ path: 'focus', message: 'required' }]);
    const ref = id ? parseMedicationRequestId(id) : null;
    if (!ref) throw notFound('MedicationRequest');
    const view = await viewOf(deps, await visiblePrescription(deps, ctx.state.principal, ref.prescriptionId));
    if (ref.lineNo !== null && !view.lines.some((l) => l.lineNo === ref.lineNo)) throw notFound('MedicationRequest');
    send(ctx, searchSet([toTask(view)], `${ctx.origin}${FHIR_BASE}`, ctx.href));
  });

  // A prescription's fills: one MedicationDispense per line of each fill, statuses from the status model.
  r.get('/MedicationDispense', readers, async (ctx) => {
    const q = typeof ctx.query.prescription === 'string' ? ctx.query.prescription : undefined;
    if (!q) throw new ApiError(400, 'FHIR_SEARCH_UNSUPPORTED', 'search MedicationDispense by prescription=<prescription id> (or MedicationRequest/<id>)', [{ path: 'prescription', message: 'required' }]);
    const ref = parseMedicationRequestId(q.replace(/^(?:.*\/)?MedicationRequest\//, ''));
    if (!ref) throw notFound('prescription');
    const rx = await visiblePrescription(deps, ctx.state.principal, ref.prescriptionId);
    send(ctx, searchSet(toMedicationDispenses(await fillViewOf(deps, rx)), `${ctx.origin}${FHIR_BASE}`, ctx.href));
  });

  // Parameters are not named `id`: these ids are not prescription ids (the access matrix names them by kind).
  r.get('/MedicationDispense/:dispenseId', readers, async (ctx) => {
    const m = /^([0-9a-f-]{36})-[1-9][0-9]{0,2}$/i.exec(ctx.params.dispenseId);
    const order = m && UUID_ONLY.test(m[1]) ? await deps.orm.em.fork().findOne(FulfilmentOrderSchema, { id: m[1].toLowerCase() }) : null;
    if (!order) throw notFound('MedicationDispense');
    const rx = await visiblePrescription(deps, ctx.state.principal, order.prescriptionId);
    const one = toMedicationDispenses(await fillViewOf(deps, rx)).find((d) => d.id === ctx.params.dispenseId.toLowerCase());
    if (!one) throw notFound('MedicationDispense');
    send(ctx, one);
  });

  r.get('/Patient/:patientId', readers, async (ctx) => {
    const id = ctx.params.patientId.toLowerCase();
    const p = UUID_ONLY.test(id) ? await deps.orm.em.fork().findOne(PatientSchema, { id }) : null;
    if (!p || !(await mayReadParty(deps, ctx.state.principal, p.hospitalId, rxIdsWhere(deps, { patientId: id })))) throw notFound('Patient');
    send(ctx, toPatient(p));
  });

  r.get('/Practitioner/:practitionerId', readers, async (ctx) => {
    const id = ctx.params.practitionerId.toLowerCase();
    const d = UUID_ONLY.test(id) ? await deps.orm.em.fork().findOne(DoctorSchema, { id }) : null;
    if (!d || !(await mayReadParty(deps, ctx.state.principal, d.hospitalId, rxIdsWhere(deps, { doctorId: id })))) throw notFound('Practitioner');
    send(ctx, toPractitioner(d));
  });

  // A hospital, or a pharmacy. A hospital reads a pharmacy only once it was offered one of its prescriptions.
  r.get('/Organization/:organizationId', readers, async (ctx) => {
    const id = ctx.params.organizationId.toLowerCase();
    if (!UUID_ONLY.test(id)) throw notFound('Organization');
    const principal = ctx.state.principal as Principal;
    const em = deps.orm.em.fork();
    const h = await em.findOne(HospitalSchema, { id });
    if (h) {
      if (!(await mayReadParty(deps, principal, h.id, rxIdsWhere(deps, { hospitalId: id })))) throw notFound('Organization');
      return send(ctx, toHospitalOrganization(h));
    }
    const p = await em.findOne(PharmacySchema, { id });
    if (!p) throw notFound('Organization');
    const offeredRx = async () => [...new Set((await em.find(FulfilmentOrderSchema, { pharmacyId: id }, { fields: ['prescriptionId'], limit: 200, orderBy: { offeredAt: 'desc' } })).map((o) => o.prescriptionId))];
    let ok: boolean;
    if (principal.role === 'hospital' && scopeOf(principal, 'prescription.read') === 'own') {
      const rxIds = await offeredRx();
      ok = rxIds.length > 0 && (await em.count(PrescriptionSchema, { id: { $in: rxIds }, hospitalId: principal.partyId })) > 0;
    } else {
      ok = await mayReadParty(deps, principal, null, offeredRx);
    }
    if (!ok) throw notFound('Organization');
    send(ctx, toPharmacyOrganization(p));
  });

  r.get('/Task/:id', readers, async (ctx) => {
    const ref = parseMedicationRequestId(ctx.params.id);
    if (!ref || ref.lineNo !== null) throw notFound('Task');
    send(ctx, toTask(await viewOf(deps, await visiblePrescription(deps, ctx.state.principal, ref.prescriptionId))));
  });

  return r;
}

/** What this server does, for FHIR clients that ask first. Public, like any FHIR server's metadata. */
function capabilityStatement(): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement', status: 'active', date: '2026-11-24', kind: 'instance', fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    implementation: { description: 'rxflow e-prescription intake and status (docs/fhir.md)' },
    rest: [{
      mode: 'server',
      security: { description: 'Authorization: Bearer <API key>; hospitals push and read their own prescriptions, pharmacists those their review queue gives them, operators and auditors any (docs/security.md)' },
      resource: [
        { type: 'Bundle', interaction: [{ code: 'create' }] },
        { type: 'MedicationRequest', interaction: [{ code: 'read' }] },
        { type: 'Task', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'focus', type: 'reference' }] },
        { type: 'MedicationDispense', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'prescription', type: 'reference' }] },
        { type: 'Patient', interaction: [{ code: 'read' }] },
        { type: 'Practitioner', interaction: [{ code: 'read' }] },
        { type: 'Organization', interaction: [{ code: 'read' }] },
      ],
      interaction: [{ code: 'transaction' }],
    }],
  };
}

/**
 * The whole /fhir/R4 face as one middleware, mounted before the JSON body parser: it parses
 * application/fhir+json itself and answers every error, even an unknown route, as an OperationOutcome.
 */
export function fhirApi(deps: ApiDeps, routes: Router = fhirRoutes(deps)): Middleware {
  // extendTypes is merged into the defaults index by index (lodash.merge), so application/json is restated.
  const parse = bodyParser({ enableTypes: ['json'], extendTypes: { json: ['application/json', 'application/fhir+json'] }, jsonLimit: '256kb', encoding: 'utf-8', onError: bodyError });
  const auth = authenticate(deps.orm, deps.config);
  const limit = rateLimit(); // the same per-key buckets as /v1
  const signed = hospitalSignature(deps.orm); // the same request signing as /v1 (docs/signing.md)
  const handle = routes.routes();
  const allowed = routes.allowedMethods();
  const mw: Middleware & { router?: Router } = async (ctx, next) => {
    if (ctx.path !== FHIR_BASE && !ctx.path.startsWith(`${FHIR_BASE}/`)) return next();
    await fhirErrors(ctx, () => urlTextGuard(ctx, async () => {
      if (ctx.method === 'GET' && ctx.path === `${FHIR_BASE}/metadata`) return send(ctx, capabilityStatement());
      // Router middleware wants its own context type; it is the same Koa context.
      await parse(ctx, () => bodyTextGuard(ctx, () => auth(ctx, () => limit(ctx, () => signed(ctx, () => handle(ctx as never, () => allowed(ctx as never, async () => undefined)))))));
    }));
  };
  // The routes are walked by api/access.ts listRoutes (the access matrix and docs/security.md) through this.
  mw.router = routes;
  return mw;
}
