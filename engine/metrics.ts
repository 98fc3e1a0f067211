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
