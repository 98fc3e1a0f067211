// Wires the engine's parts to real services: PostgreSQL (MikroORM), Elasticsearch, Temporal.
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { reservationSweeperWorkflow } from '../workflows/sweeper';
import { webhookDrainerWorkflow } from '../workflows/webhooks';
import { workflowHealerWorkflow } from '../workflows/workflow-healer';
import { createWorkflowHealthActivities } from '../activities/workflow-health';
import { createWebhookActivities, kickWebhookDeliveries } from '../activities/webhooks';
import { onHospitalEventsCommitted } from '../activities/hospital-events';
import { closeFeedHub } from '../api/feed-hub';
import { webhookConfig } from './webhook-config';
import { startSearchSync, type SyncLoop } from '../catalog/sync';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { migrate, openOrm } from '../db/orm';
import { createActivities } from '../activities';
import { patientLinkSettings } from '../api/routes/patient';
import { insurerFromConfig } from '../activities/insurer';
import { createApp } from '../api/app';
import { ensureCurrentIndices } from '../catalog/reindex';
import { loadWorkerTuning, loadWorkflowHealthConfig, type Config } from './config';
import { instrumentElasticsearch, instrumentKnex } from './metrics';
import { observeActivities, startTracing } from './telemetry';
import { log } from './log';

export interface Services {
  config: Config;
  orm: MikroORM;
  es: EsClient;
  temporal: TemporalClient;
  close(): Promise<void>;
}

export async function openServices(config: Config): Promise<Services> {
  const orm = await openOrm(config.databaseUrl);
  await migrate(orm);
  instrumentKnex(orm.em.getConnection().getKnex());
  const es = new EsClient({ node: config.elasticsearchUrl, requestTimeout: 10_000 });
  instrumentElasticsearch(es);
  // A changed mapping is rebuilt from PostgreSQL behind the alias before the engine serves.
  await ensureCurrentIndices(es, config.indexPrefix, orm.em.fork() as EntityManager);
  const connection = await Connection.connect({ address: config.temporalAddress });
  const temporal = new TemporalClient({ connection, namespace: config.temporalNamespace, interceptors: { workflow: startTracing()?.client ?? [] } });
  // Hospital events committed by this process start their delivery workflows at once (the drainer is the safety net).
  onHospitalEventsCommitted(orm, (keys) => void kickWebhookDeliveries(temporal, config.taskQueue, keys));
  return {
    config, orm, es, temporal,
    async close() {
      // The event feed's listening connection and waiters first: they read through the ORM.
      await closeFeedHub(orm);
      await connection.close();
      await es.close();
      await orm.close();
      await startTracing()?.shutdown();
    },
  };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundled once per process: bundling the workflow code takes seconds. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), workflowInterceptorModules: startTracing()?.workflowInterceptorModules, logger: quietLogger });
  return bundle;
}

/** Writes this code's workflow bundle to `file`, for workers started with RX_WORKFLOW_BUNDLE=file. */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await workflowBundle();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, code);
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn: (m: string) => log.warn({ component: 'bundler' }, m), error: (m: string) => log.error({ component: 'bundler' }, m), log() {} } as never;

export async function startWorker(s: Services): Promise<{ worker: Worker; running: Promise<void>; connection: NativeConnection; sync: SyncLoop }> {
  const connection = await NativeConnection.connect({ address: s.config.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: s.config.temporalNamespace,
    taskQueue: s.config.taskQueue,
    // RX_WORKFLOW_BUNDLE: a bundle built beforehand (writeWorkflowBundle) spares a restarted worker the
    // seconds of bundling, so it is back sooner after a crash; it must come from the same code.
    workflowBundle: process.env.RX_WORKFLOW_BUNDLE ? { codePath: process.env.RX_WORKFLOW_BUNDLE } : await workflowBundle(),
    activities: {
      ...createActivities({ orm: s.orm, es: s.es, temporal: s.temporal, matchAtMinute: s.config.matchAtMinute, indexPrefix: s.config.indexPrefix, filesDir: s.config.filesDir, cjkFont: s.config.cjkFont, insurer: s.config.insurer ? insurerFromConfig(s.config.insurer) : undefined, publicUrl: s.config.publicUrl, patientLinks: patientLinkSettings(s.config) }),
      ...createWebhookActivities({ orm: s.orm, temporal: s.temporal, taskQueue: s.config.taskQueue }),
      ...createWorkflowHealthActivities({ orm: s.orm, temporal: s.temporal, namespace: s.config.temporalNamespace }, loadWorkflowHealthConfig()),
    },
    interceptors: { activity: [observeActivities, ...(startTracing()?.worker.activity ?? [])] },
    sinks: startTracing()?.worker.sinks as never,
    ...loadWorkerTuning(),
  });
  const running = worker.run();
  await startLoops(s);
  // The search projection of stock follows PostgreSQL through the outbox.
  const sync = startSearchSync(s.orm, s.es, s.config.indexPrefix, s.config.searchSyncIntervalMs);
  return { worker, running, connection, sync };
}

/**
 * The engine's loops, one of each per task queue: the reservation sweeper, the webhook outbox drainer and
 * the healer of workflows stuck on a nondeterminism error. Starting one again finds the one already running.
 */
async function startLoops(s: Services): Promise<void> {
  const once = async <A>(workflow: (input: A) => Promise<void>, name: string, input: A) => {
    try {
      await s.temporal.workflow.start(workflow, { taskQueue: s.config.taskQueue, workflowId: `rxflow-${name}-${s.config.taskQueue}`, args: [input] });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    }
  };
  await once(reservationSweeperWorkflow, 'reservation-sweeper', { intervalMs: s.config.sweepIntervalMs });
  await once(webhookDrainerWorkflow, 'webhook-drainer', { intervalMs: webhookConfig().drainIntervalMs });
  await once(workflowHealerWorkflow, 'workflow-healer', { intervalMs: loadWorkflowHealthConfig().intervalMs });
}

export async function startApi(s: Services, port = s.config.apiPort): Promise<{ server: http.Server; url: string }> {
  const app = createApp({ orm: s.orm, es: s.es, temporal: s.temporal, config: s.config });
  const server = http.createServer(app.callback());
  // A burst of connections (1,000 hospital pushes at once, tests/integration/concurrency.test.ts) must wait
  // in the accept queue, not be reset: Node's default backlog is 511; the kernel caps this at somaxconn.
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve));
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return { server, url: `http://127.0.0.1:${actual}` };
}
