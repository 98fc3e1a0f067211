// Structured logs (pino), one JSON object a line. Every line about a prescription carries its
// `prescriptionId` and `workflowId`; no line carries health data: we never log bodies, and the paths
// below are censored in case a field slips into a log call anyway (tests/integration/logging.test.ts
// pushes a prescription through and greps the log for the patient's details).
import pino, { type Logger } from 'pino';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogEntry } from '@temporalio/worker';
import type { Middleware } from 'koa';

const PERSONAL = ['patient', 'guardian', 'name', 'idCard', 'idNumber', 'phone', 'address', 'allergies', 'diagnoses', 'content', 'proof', 'receivedBy', 'authorization', 'cookie'];
export const REDACT_PATHS = [...PERSONAL, ...PERSONAL.map((k) => `*.${k}`), 'req.headers.authorization', 'req.headers.cookie'];

function destination(): pino.DestinationStream | undefined {
  const file = process.env.RX_LOG_FILE;
  return file ? pino.destination({ dest: file, mkdir: true, sync: true }) : undefined;
}

/** RX_LOG_LEVEL (default info; silent in tests unless RX_LOG_FILE is set), RX_LOG_FILE (default stdout). */
function create(): Logger {
  return pino({
    level: process.env.RX_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' && !process.env.RX_LOG_FILE ? 'silent' : 'info'),
    base: { service: 'rxflow', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, destination() ?? process.stdout);
}

let instance: Logger | undefined;
/** The process's logger, made on first use: entry points set the environment after their imports. */
export const log: Logger = new Proxy({} as Logger, {
  get(_target, key) {
    instance ??= create();
    const v = Reflect.get(instance, key);
    return typeof v === 'function' ? v.bind(instance) : v;
  },
});

/** Workflow ids are `rx-<prescription id>`; anything else (the sweeper, benchmarks) has no prescription. */
export function prescriptionOf(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith('rx-') ? workflowId.slice(3) : undefined;
}

export function forPrescription(prescriptionId: string): Logger {
  return log.child({ prescriptionId, workflowId: `rx-${prescriptionId}` });
}

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * Temporal's runtime logs (the worker's own, and workflow code's `log` calls, which carry the workflow
 * id in their metadata) go to the same pino stream.
 */
export function installTemporalRuntime(level: 'WARN' | 'INFO' = 'INFO'): void {
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      const meta = (entry.meta ?? {}) as Record<string, unknown>;
      const workflowId = meta.workflowId as string | undefined;
      const fields = { ...meta, component: 'temporal', ...(prescriptionOf(workflowId) ? { prescriptionId: prescriptionOf(workflowId) } : {}) };
      log[LEVELS[entry.level]](fields, entry.message);
    }),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
}

/**
 * One line per API request: route pattern, status, time, who asked (role and key label, never the key),
 * the error code of a refusal, and the prescription the route names. Never the body.
 */
export const requestLog: Middleware = async (ctx, next) => {
  const t0 = performance.now();
  try {
    await next();
  } finally {
    // The prescription the path names, or the one a push created (its Location).
    // FHIR names it too: Task/<uuid>, MedicationRequest/<uuid>[-<line>] (docs/fhir.md).
    const named = /\/(?:prescriptions|review-queue|Task|MedicationRequest)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/-]|$)/;
    const id = named.exec(ctx.path)?.[1] ?? named.exec(ctx.response.get('Location'))?.[1];
    const principal = ctx.state.principal as { role?: string; label?: string } | undefined;
    const error = (ctx.body as { error?: { code?: string } } | undefined)?.error?.code
      // An OperationOutcome (the FHIR routes) keeps the house code in its first issue.
      ?? (ctx.body as { resourceType?: string; issue?: { details?: { coding?: { code?: string }[] } }[] } | undefined)?.issue?.[0]?.details?.coding?.[0]?.code;
    const fields = {
      component: 'api', method: ctx.method, route: (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? null, status: ctx.status,
      ms: Math.round((performance.now() - t0) * 10) / 10,
      ...(principal ? { role: principal.role, client: principal.label } : {}),
      ...(error ? { error } : {}),
      ...(id ? { prescriptionId: id, workflowId: `rx-${id}` } : {}),
    };
    if (ctx.status >= 500) log.error(fields, 'request');
    else log.info(fields, 'request');
  }
};
