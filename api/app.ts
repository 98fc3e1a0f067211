// The Koa application: one error shape, authentication on everything under /v1, one router per party.
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Client as TemporalClient } from '@temporalio/client';
import type { Config } from '../engine/config';
import { bodyError, errorHandler } from './errors';
import { outboxState } from '../catalog/sync';
import { httpMetrics, registry, searchSyncOldest, searchSyncQueued, webhookFailed, webhookOldest, webhookPending } from '../engine/metrics';
import { httpTracing } from '../engine/telemetry';
import { log, requestLog } from '../engine/log';
import { authenticate } from './auth';
import { prescriptionRoutes } from './routes/prescriptions';
import { reviewRoutes } from './routes/review';
import { fulfilmentRoutes } from './routes/fulfilment';
import { coldChainRoutes } from './routes/cold-chain';
import { catalogRoutes } from './routes/catalog';
import { reportRoutes } from './routes/reports';
import { supervisionRoutes } from './routes/supervision';
import { webhookRoutes } from './routes/webhooks';
import { consoleRoutes } from './routes/console';
import { openApiDocument, routesOf } from './openapi';

const API_VERSION = '1';
import { signingKeyRoutes } from './routes/signing-keys';
import { apiKeyRoutes } from './routes/api-keys';
import { accessRecorder, type AccessRecorder } from './access-log';
import { eventRoutes } from './routes/events';
import { fhirApi, fhirRoutes } from './routes/fhir';
import { insuranceRoutes } from './routes/insurance';
import { opsRoutes } from './routes/ops';
import { deliveryPartnerRoutes } from './routes/delivery-partners';
import { followUpRoutes } from './follow-ups';
import { rateLimit } from './rate-limit';
import { baseSecurityHeaders } from './security-headers';
import { bodyTextGuard, urlTextGuard } from './text-guard';
import { patientPages, patientRoutes } from './routes/patient';
import { requestSigningRoutes } from './routes/request-signing';
import { hospitalSignature } from './request-signature';

export interface ApiDeps { orm: MikroORM; es: EsClient; temporal: TemporalClient; config: Config }

export function createApp(deps: ApiDeps): Koa {
  const app = new Koa();
  // Reads of a prescription by a person are audit events (api/access-log.ts); authorize() calls this.
  (app.context as { recordAccess?: AccessRecorder }).recordAccess = accessRecorder(deps.orm);
  const tracing = httpTracing();
  if (tracing) app.use(tracing);
  app.use(requestLog);
  app.use(httpMetrics);
  app.use(errorHandler);
  app.use(baseSecurityHeaders);
  // FHIR R4 (docs/fhir.md): its own body parser (application/fhir+json) and OperationOutcome errors.
  const fhir = fhirRoutes(deps);
  app.use(fhirApi(deps, fhir));
  // NUL and lone surrogates in the URL, refused before any route puts them in a query (api/text-guard.ts);
  // /fhir/R4 runs the same guard inside its OperationOutcome errors.
  app.use(urlTextGuard);
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '256kb', encoding: 'utf-8', onError: bodyError }));
  app.use(bodyTextGuard);

  const open = new Router();
  open.get('/health', async (ctx) => {
    const check = async (fn: () => Promise<unknown>) => {
      const t0 = Date.now();
      try { await fn(); return { ok: true, ms: Date.now() - t0 }; } catch (e) { return { ok: false, ms: Date.now() - t0, error: (e as Error).message }; }
    };
    const [postgres, elasticsearch, temporal] = await Promise.all([
      check(() => deps.orm.em.fork().getConnection().execute('select 1')),
      check(() => deps.es.cluster.health({ timeout: '2s' })),
      check(() => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const ok = postgres.ok && elasticsearch.ok && temporal.ok;
    // How far the search projection is behind PostgreSQL: queued pharmacies and the oldest change's age.
    const searchSync = postgres.ok ? await outboxState(deps.orm) : null;
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ok' : 'degraded', dependencies: { postgres, elasticsearch, temporal }, searchSync };
  });
  open.get('/metrics', async (ctx) => {
    try {
      const q = await outboxState(deps.orm);
      searchSyncQueued.set(q.queued);
      searchSyncOldest.set(q.oldestMs / 1000);
      const [w] = await deps.orm.em.fork().getConnection().execute(
        `select count(*) filter (where status = 'pending')::int as pending, count(*) filter (where status = 'failed')::int as failed,
                coalesce(extract(epoch from now() - min(created_at) filter (where status = 'pending')), 0)::float as oldest from webhook_delivery`);
      webhookPending.set(w.pending);
      webhookFailed.set(w.failed);
      webhookOldest.set(w.oldest);
    } catch { /* PostgreSQL away: the gauges keep their last values; /health says why */ }
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  // The API's description, from the mounted routers and the zod schemas that validate the bodies.
  open.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument(routesOf(open, consolePages, v1, fhir), API_VERSION);
  });
  app.use(open.routes());
  // The pharmacist console's page and its login/logout live outside /v1; its data calls use /v1.
  const consolePages = consoleRoutes(deps);
  app.use(consolePages.routes());
  // The patient's page (docs/patient.md): static; its data calls go to /v1/patient with the link's token.
  app.use(patientPages().routes());

  const v1 = new Router();
  v1.use('/v1', authenticate(deps.orm, deps.config));
  // Per key, after authentication: 429 with Retry-After beyond the key's requests per minute (api/rate-limit.ts).
  v1.use('/v1', rateLimit());
  // A hospital's API key is not enough on its own where its mode asks for a request signature (docs/signing.md).
  v1.use('/v1', hospitalSignature(deps.orm));
  for (const r of [prescriptionRoutes(deps), reviewRoutes(deps), fulfilmentRoutes(deps), catalogRoutes(deps), reportRoutes(deps), supervisionRoutes(deps)]) v1.use(r.routes(), r.allowedMethods());
  // Hospital callbacks: endpoint, secret rotation, delivery status and redelivery.
  const hooks = webhookRoutes(deps);
  v1.use(hooks.routes(), hooks.allowedMethods());
  const keys = signingKeyRoutes(deps); // the hospital key registry (docs/signing.md)
  v1.use(keys.routes(), keys.allowedMethods());
  const apiKeys = apiKeyRoutes(deps); // API keys: issue, scope, rotate with overlap, revoke (docs/security.md)
  v1.use(apiKeys.routes(), apiKeys.allowedMethods());
  // The event feed: replay from a cursor, long-poll and Server-Sent Events (docs/events.md).
  const feed = eventRoutes(deps);
  v1.use(feed.routes(), feed.allowedMethods());
  // Insurance: settlement and reversal per prescription, the loaded policy versions (docs/insurance.md).
  const insurance = insuranceRoutes(deps);
  v1.use(insurance.routes(), insurance.allowedMethods());
  // The audit trail (verify, regulator export) and a patient's data (lookup, export, erase).
  const ops = opsRoutes(deps);
  v1.use(ops.routes(), ops.allowedMethods());
  // The delivery partner registry (docs/delivery.md).
  const partners = deliveryPartnerRoutes(deps);
  v1.use(partners.routes(), partners.allowedMethods());
  // The parcel side of a delivery: temperature readings, cold-chain excursions (docs/delivery.md).
  const coldChain = coldChainRoutes(deps);
  v1.use(coldChain.routes(), coldChain.allowedMethods());
  // Follow-up: the plan, answers, ADR tasks and the ADR report export (docs/follow-up.md).
  const followUps = followUpRoutes(deps);
  v1.use(followUps.routes(), followUps.allowedMethods());
  // Patient links (hospital) and the patient's own routes (docs/patient.md).
  const patient = patientRoutes(deps);
  v1.use(patient.routes(), patient.allowedMethods());
  // Request signing of hospital systems: mode, secret rotation (docs/signing.md).
  const requestSigning = requestSigningRoutes(deps);
  v1.use(requestSigning.routes(), requestSigning.allowedMethods());
  app.use(v1.routes());

  // Unexpected errors (the 500s): the request line says which request; this says why, with the stack.
  app.on('error', (err: Error, ctx) => {
    // The cause too: the Temporal client wraps a gRPC status (its code says whether a retry can help).
    const cause = (err as { cause?: { name?: string; code?: unknown; message?: string; details?: unknown } }).cause;
    log.error({
      component: 'api', method: ctx?.method, route: (ctx as { _matchedRoute?: string })?._matchedRoute,
      err: { type: err.name, message: err.message, stack: err.stack, ...(cause ? { cause: { type: cause.name, code: cause.code, message: cause.message, details: cause.details } } : {}) },
    }, 'request failed');
  });
  return app;
}
