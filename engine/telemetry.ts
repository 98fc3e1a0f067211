// What the engine tells its operators about its own work: a log line and a latency sample for every
// activity, and (off by default) OpenTelemetry traces across the API, the Temporal client, workflows
// and activities, exported by OTLP/HTTP.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, the
// standard OpenTelemetry variables; OTEL_SERVICE_NAME names the process (default rxflow).
import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Middleware } from 'koa';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { activityDuration } from './metrics';
import { log, prescriptionOf } from './log';

/** One log line and one histogram sample per activity execution, tagged with its prescription. */
export const observeActivities: ActivityInterceptorsFactory = (ctx: ActivityContext) => ({
  inbound: {
    async execute(input, next) {
      const { activityType, attempt, workflowExecution } = ctx.info;
      const workflowId = workflowExecution?.workflowId;
      const fields = { component: 'activity', activity: activityType, attempt, workflowId, prescriptionId: prescriptionOf(workflowId) };
      const t0 = performance.now();
      try {
        const result = await next(input);
        const ms = performance.now() - t0;
        activityDuration.observe({ activity: activityType, outcome: 'ok' }, ms / 1000);
        log.info({ ...fields, ms: Math.round(ms * 10) / 10 }, 'activity completed');
        return result;
      } catch (err) {
        const ms = performance.now() - t0;
        activityDuration.observe({ activity: activityType, outcome: 'error' }, ms / 1000);
        const e = err as { name?: string; type?: string; message?: string };
        log.warn({ ...fields, ms: Math.round(ms * 10) / 10, error: { type: e.type ?? e.name, message: e.message } }, 'activity failed');
        throw err;
      }
    },
  },
});

// ---- tracing -------------------------------------------------------------------------------------------

export const tracingEnabled = () => Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);

export interface Tracing {
  /** For Worker.create: the workflow span exporter sink and the activity interceptor. */
  worker: { sinks: Record<string, unknown>; activity: ActivityInterceptorsFactory[] };
  /** Bundled into the workflow code: the workflow interceptors. */
  workflowInterceptorModules: string[];
  client: WorkflowClientInterceptor[];
  shutdown(): Promise<void>;
}

let tracing: Tracing | null | undefined;

/** Sets up the tracer provider once per process; null when tracing is off. */
export function startTracing(): Tracing | null {
  if (tracing !== undefined) return tracing;
  if (!tracingEnabled()) return (tracing = null);
  // Loaded only when on: a process without tracing pays nothing for it.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { Resource } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'rxflow', 'service.instance.id': String(process.pid) });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register(); // global tracer provider, W3C propagation, AsyncLocalStorage context
  log.info({ component: 'tracing', endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT }, 'OpenTelemetry tracing on');
  tracing = {
    worker: {
      sinks: { exporter: otel.makeWorkflowExporter(processor, resource) },
      activity: [(ctx) => ({ inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx) })],
    },
    workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    client: [new otel.OpenTelemetryWorkflowClientInterceptor()],
    shutdown: () => provider.shutdown(),
  };
  return tracing;
}

/** An HTTP server span per API request (named by route pattern), parent of the Temporal client's spans. */
export function httpTracing(): Middleware | null {
  if (!startTracing()) return null;
  const tracer: Tracer = trace.getTracer('rxflow-api');
  return async (ctx, next) => {
    const parent = propagation.extract(context.active(), ctx.headers);
    await context.with(parent, () => tracer.startActiveSpan(`${ctx.method} ${ctx.path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path } }, async (span) => {
      try {
        await next();
        const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
        if (route) { span.updateName(`${ctx.method} ${route}`); span.setAttribute('http.route', String(route)); }
        span.setAttribute('http.response.status_code', ctx.status);
        if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      } finally {
        span.end();
      }
    }));
  };
}
