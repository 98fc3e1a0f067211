// Prometheus metrics (prom-client), one registry per process, served at GET /metrics. Labels are
// bounded: routes by their pattern, statuses by name; never a prescription id or anything personal.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Middleware } from 'koa';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'rxflow_' });

export const httpRequests = new Counter({
  name: 'rxflow_http_requests_total', help: 'HTTP requests by route pattern and status', labelNames: ['method', 'route', 'status'], registers: [registry],
});
export const httpDuration = new Histogram({
  name: 'rxflow_http_request_duration_seconds', help: 'HTTP request latency by route pattern', labelNames: ['method', 'route'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
});
export const transitions = new Counter({
  name: 'rxflow_prescription_transitions_total', help: 'Prescription status changes by target status', labelNames: ['to'], registers: [registry],
});
export const searchSyncQueued = new Gauge({
  name: 'rxflow_search_sync_queued', help: 'Pharmacies waiting to be re-indexed (the stock outbox)', registers: [registry],
});
export const searchSyncOldest = new Gauge({
  name: 'rxflow_search_sync_oldest_seconds', help: 'Age of the oldest change not yet in the search projection', registers: [registry],
});

export const webhookPending = new Gauge({
  name: 'rxflow_webhook_deliveries_pending', help: 'Hospital callbacks not yet acknowledged (the webhook backlog)', registers: [registry],
});
export const webhookOldest = new Gauge({
  name: 'rxflow_webhook_oldest_pending_seconds', help: 'Age of the oldest hospital callback not yet acknowledged', registers: [registry],
});
export const webhookFailed = new Gauge({
  name: 'rxflow_webhook_deliveries_failed', help: 'Hospital callbacks given up on (visible to the hospital for redelivery)', registers: [registry],
});

/** Counts and times every request under its route pattern (unmatched paths count as one route). */
export const httpMetrics: Middleware = async (ctx, next) => {
  const end = httpDuration.startTimer();
  try {
    await next();
  } finally {
    const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
    end({ method: ctx.method, route: String(route) });
    httpRequests.inc({ method: ctx.method, route: String(route), status: String(ctx.status) });
  }
};

// ---- the process: stages, people and partners ------------------------------------------------------
export const stageDuration = new Histogram({
  name: 'rxflow_stage_duration_seconds', help: 'Time a prescription spent in a status before leaving it, by that status',
  labelNames: ['stage'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, 86400, 259200], registers: [registry],
});
export const outcomes = new Counter({
  name: 'rxflow_prescription_outcomes_total', help: 'Prescriptions that reached a terminal status', labelNames: ['outcome'], registers: [registry],
});
export const reviewSlaBreaches = new Counter({
  name: 'rxflow_review_sla_breaches_total', help: 'Reviews not decided within the SLA (each escalation counts)', registers: [registry],
});
export const pharmacyResponses = new Counter({
  name: 'rxflow_pharmacy_offers_total', help: 'Pharmacy offers by how they ended: accepted, declined, expired (no answer), short, cancelled',
  labelNames: ['outcome'], registers: [registry],
});
export const deliveries = new Counter({
  name: 'rxflow_deliveries_total', help: 'Delivery attempts by how they ended', labelNames: ['outcome'], registers: [registry],
});
export const deliveryLateness = new Histogram({
  name: 'rxflow_delivery_lateness_seconds', help: 'How long after the pharmacy\'s promised time a delivery arrived (0 when on time)',
  buckets: [0, 60, 300, 900, 1800, 3600, 7200, 21600], registers: [registry],
});

// ---- the engine's own work and its dependencies -----------------------------------------------------
export const activityDuration = new Histogram({
  name: 'rxflow_activity_duration_seconds', help: 'Temporal activity executions by activity and outcome', labelNames: ['activity', 'outcome'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry],
});
export const esDuration = new Histogram({
  name: 'rxflow_elasticsearch_request_duration_seconds', help: 'Elasticsearch requests by API (_search, _bulk, ...) and outcome', labelNames: ['api', 'outcome'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
});
export const dbDuration = new Histogram({
  name: 'rxflow_db_query_duration_seconds', help: 'PostgreSQL statements by kind (select, insert, update, delete, other)', labelNames: ['kind', 'outcome'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
});

/** The Elasticsearch API a request used: its last `_xxx` path segment (no index names: bounded labels). */
export function esApi(path: string | undefined): string {
  const seg = (path ?? '').split('?')[0].split('/').filter((s) => s.startsWith('_'));
  return seg.length ? seg[seg.length - 1] : 'other';
}

/** Times every request of this client from its `request` to its `response` diagnostic event. */
export function instrumentElasticsearch(es: { diagnostic: { on(event: string, fn: (err: unknown, r: any) => void): unknown } }): void {
  const started = new Map<unknown, number>();
  es.diagnostic.on('request', (_err, r) => { if (r?.meta?.request?.id !== undefined) started.set(r.meta.request.id, performance.now()); });
  es.diagnostic.on('response', (err, r) => {
    const id = r?.meta?.request?.id;
    const t0 = started.get(id);
    if (t0 === undefined) return;
    started.delete(id);
    esDuration.observe({ api: esApi(r?.meta?.request?.params?.path), outcome: err ? 'error' : 'ok' }, (performance.now() - t0) / 1000);
  });
}

/** Times every statement knex sends (MikroORM's query builder and raw SQL alike). */
export function instrumentKnex(knex: { on(event: string, fn: (...args: any[]) => void): unknown }): void {
  const started = new Map<string, number>();
  const kind = (sql: string) => /^\s*(select|insert|update|delete|with)\b/i.exec(sql)?.[1].toLowerCase().replace('with', 'select') ?? 'other';
  knex.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
  const done = (outcome: string) => (...args: any[]) => {
    const q = args.find((a) => a && typeof a === 'object' && '__knexQueryUid' in a) as { __knexQueryUid: string; sql: string } | undefined;
    const t0 = q && started.get(q.__knexQueryUid);
    if (!q || t0 === undefined) return;
    started.delete(q.__knexQueryUid);
    dbDuration.observe({ kind: kind(q.sql), outcome }, (performance.now() - t0) / 1000);
  };
  knex.on('query-response', done('ok'));
  knex.on('query-error', done('error'));
}
export const intakePhaseDuration = new Histogram({
  name: 'rxflow_intake_phase_seconds', help: 'Time inside intake by phase: signature, validation (schema + rules), database, workflow_start',
  labelNames: ['phase'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
});
