// Engine configuration from the environment. Defaults point at the local stack (stack/rxstack);
// production sets DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and ELASTICSEARCH_URL.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { minuteOfDay } from '../domain/matching';
import { DEFAULT_RULES, type RulesConfig } from '../domain/rules';
import type { InsurerConfig } from '../activities/insurer';
import { DEFAULT_COLD_CHAIN_RULES, type ColdChainRules } from '../domain/cold-chain';
import { DEFAULT_ETA_CONFIG, type EtaConfig } from '../domain/delivery-eta';
import { DEFAULT_FOLLOW_UP_RULES, type FollowUpRules } from '../domain/follow-up';
import { envNumber } from './env';

const ROOT = path.resolve(__dirname, '..');
const num = (name: string, fallback: number) => envNumber(name, fallback);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Durations the workflow waits for people and partners. Production defaults; demo and tests shorten them. */
export interface WorkflowTimings {
  reviewSlaMs: number;            // escalate when no pharmacist decided within this
  reviewMaxEscalations: number;   // after this many escalations the prescription expires unreviewed
  pharmacyResponseMs: number;     // a pharmacy must accept or decline within this
  dispenseTimeoutMs: number;      // after accepting, it must check and dispense within this
  maxPharmacyAttempts: number;
  reservationHoldMs: number;
  deliveryTimeoutMs: number;      // no delivery update within this counts as a failed attempt
  maxDeliveryAttempts: number;
  pickupTimeoutMs: number;        // a prescription not collected by then goes back on the shelf
  followUpDelaysMs: { adherence: number; adverse_reaction: number; refill_reminder: number };
  searchRadiusKm: number;
  /** A review not decided by then returns the prescription to the hospital as not reviewed (absent on older workflows: never). */
  reviewReturnMs?: number;
  /** The insurer pre-check (docs/insurance.md): how long one may take, and what happens when it cannot answer (absent on older workflows: the rules engine, no fallback). */
  insurerTimeoutMs?: number;
  insurerFallback?: 'self_pay' | 'hold';
  insurerHoldRetryMs?: number;
  /** After the last failed delivery attempt, how long the partner has to report the parcel back (absent on older workflows: deliveryTimeoutMs). */
  deliveryReturnMs?: number;
  /** A cold-chain excursion undecided this long is escalated to the lead pharmacist, and again each period (absent on older workflows: 30 min). */
  coldChainDecisionMs?: number;
  /** Follow-up as a process (docs/follow-up.md); absent on workflows started before it: followUpTimings() defaults. */
  followUp?: FollowUpTimings;
}

/** The follow-up plan's rules are in days; `dayMs` is how long a day lasts (a day in production, ms in tests). */
export interface FollowUpTimings {
  dayMs: number;
  /** How long a sent step waits for the answer; once more after the reminder, then it is unanswered. */
  responseWindowMs: number;
  rules: FollowUpRules;
}

export function loadFollowUpTimings(): FollowUpTimings {
  const atc = process.env.RX_FOLLOWUP_HIGH_ALERT_ATC;
  return {
    dayMs: num('RX_FOLLOWUP_DAY_MS', DAY),
    responseWindowMs: num('RX_FOLLOWUP_RESPONSE_WINDOW_MS', 2 * DAY),
    rules: {
      checkInDays: num('RX_FOLLOWUP_CHECKIN_DAYS', DEFAULT_FOLLOW_UP_RULES.checkInDays),
      checkInDaysNewOrHighAlert: num('RX_FOLLOWUP_CHECKIN_DAYS_SOON', DEFAULT_FOLLOW_UP_RULES.checkInDaysNewOrHighAlert),
      refillLeadDays: num('RX_FOLLOWUP_REFILL_LEAD_DAYS', DEFAULT_FOLLOW_UP_RULES.refillLeadDays),
      closeAfterDays: num('RX_FOLLOWUP_CLOSE_AFTER_DAYS', DEFAULT_FOLLOW_UP_RULES.closeAfterDays),
      highAlertAtcPrefixes: atc === undefined ? DEFAULT_FOLLOW_UP_RULES.highAlertAtcPrefixes : atc.split(',').map((x) => x.trim()).filter(Boolean),
    },
  };
}

export function loadTimings(): WorkflowTimings {
  return {
    reviewSlaMs: num('RX_REVIEW_SLA_MS', 30 * MINUTE),
    reviewMaxEscalations: num('RX_REVIEW_MAX_ESCALATIONS', 8),
    pharmacyResponseMs: num('RX_PHARMACY_RESPONSE_MS', 10 * MINUTE),
    dispenseTimeoutMs: num('RX_DISPENSE_TIMEOUT_MS', 2 * HOUR),
    maxPharmacyAttempts: num('RX_MAX_PHARMACY_ATTEMPTS', 5),
    reservationHoldMs: num('RX_RESERVATION_HOLD_MS', 30 * MINUTE),
    deliveryTimeoutMs: num('RX_DELIVERY_TIMEOUT_MS', 2 * DAY),
    maxDeliveryAttempts: num('RX_MAX_DELIVERY_ATTEMPTS', 2),
    pickupTimeoutMs: num('RX_PICKUP_TIMEOUT_MS', 3 * DAY),
    followUpDelaysMs: {
      adherence: num('RX_FOLLOWUP_ADHERENCE_MS', 3 * DAY),
      adverse_reaction: num('RX_FOLLOWUP_ADVERSE_MS', 7 * DAY),
      refill_reminder: num('RX_FOLLOWUP_REFILL_MS', 25 * DAY),
    },
    searchRadiusKm: num('RX_SEARCH_RADIUS_KM', 10),
    reviewReturnMs: num('RX_REVIEW_RETURN_MS', 2 * HOUR),
    insurerTimeoutMs: loadInsurerConfig().timeoutMs,
    insurerFallback: loadInsurerConfig().fallback,
    insurerHoldRetryMs: loadInsurerConfig().holdRetryMs,
    deliveryReturnMs: num('RX_DELIVERY_RETURN_MS', 2 * DAY),
    coldChainDecisionMs: num('RX_COLD_CHAIN_DECISION_MS', 30 * MINUTE),
    followUp: loadFollowUpTimings(),
  };
}

/** Cold-chain rules, the promised windows and the ETA speeds (docs/delivery.md). */
export interface DeliveryConfig { coldChain: ColdChainRules; eta: EtaConfig }

export function loadDeliveryConfig(): DeliveryConfig {
  const c = DEFAULT_COLD_CHAIN_RULES;
  const e = DEFAULT_ETA_CONFIG;
  return {
    coldChain: {
      minC: num('RX_COLD_CHAIN_MIN_C', c.minC), maxC: num('RX_COLD_CHAIN_MAX_C', c.maxC), toleranceMs: num('RX_COLD_CHAIN_TOLERANCE_MS', c.toleranceMs),
      freezeC: num('RX_COLD_CHAIN_FREEZE_C', c.freezeC), hardHighC: num('RX_COLD_CHAIN_HARD_HIGH_C', c.hardHighC),
    },
    eta: {
      defaultWindowMs: num('RX_DELIVERY_WINDOW_MS', e.defaultWindowMs), sameDayWindowMs: num('RX_DELIVERY_SAME_DAY_WINDOW_MS', e.sameDayWindowMs),
      expressWindowMs: num('RX_DELIVERY_EXPRESS_WINDOW_MS', e.expressWindowMs), pickupLeadMs: num('RX_DELIVERY_PICKUP_LEAD_MS', e.pickupLeadMs),
      transitBaseMs: num('RX_DELIVERY_TRANSIT_BASE_MS', e.transitBaseMs), transitPerKmMs: num('RX_DELIVERY_TRANSIT_PER_KM_MS', e.transitPerKmMs),
    },
  };
}

/** Who answers the insurance pre-check and what happens when it cannot (docs/insurance.md). */
export function loadInsurerConfig(): InsurerConfig {
  const kind = process.env.RX_INSURER || 'rules';
  if (kind !== 'rules' && kind !== 'http') throw new Error(`RX_INSURER must be rules or http, got ${kind}`);
  const fallback = process.env.RX_INSURER_FALLBACK || 'self_pay';
  if (fallback !== 'self_pay' && fallback !== 'hold') throw new Error(`RX_INSURER_FALLBACK must be self_pay or hold, got ${fallback}`);
  return {
    kind,
    url: process.env.RX_INSURER_URL || undefined,
    apiKey: process.env.RX_INSURER_API_KEY || undefined,
    timeoutMs: num('RX_INSURER_TIMEOUT_MS', 10 * SECOND),
    retries: num('RX_INSURER_RETRIES', 2),
    fallback,
    holdRetryMs: num('RX_INSURER_HOLD_RETRY_MS', 10 * MINUTE),
  };
}

/** The prescribing rules' limits (domain/rules.ts, docs/intake-rules.md); national defaults, per region by env. */
export function loadRulesConfig(): RulesConfig {
  const list = (name: string, fallback: string[]) => {
    const v = process.env[name];
    return v === undefined ? fallback : v.split(',').map((x) => x.trim()).filter(Boolean);
  };
  return {
    maxDaysOrdinary: num('RX_RULE_MAX_DAYS_ORDINARY', DEFAULT_RULES.maxDaysOrdinary),
    maxDaysAcute: num('RX_RULE_MAX_DAYS_ACUTE', DEFAULT_RULES.maxDaysAcute),
    maxDaysLongTerm: num('RX_RULE_MAX_DAYS_LONG_TERM', DEFAULT_RULES.maxDaysLongTerm),
    maxValidDays: num('RX_RULE_MAX_VALID_DAYS', DEFAULT_RULES.maxValidDays),
    guardianUnderAgeYears: num('RX_RULE_GUARDIAN_UNDER_AGE', DEFAULT_RULES.guardianUnderAgeYears),
    futureSkewMinutes: num('RX_RULE_FUTURE_SKEW_MINUTES', DEFAULT_RULES.futureSkewMinutes),
    injectableAllowedAtcPrefixes: list('RX_RULE_INJECTABLE_ATC_ALLOWED', DEFAULT_RULES.injectableAllowedAtcPrefixes),
  };
}

export interface Config {
  databaseUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  taskQueue: string;
  elasticsearchUrl: string;
  indexPrefix: string;
  apiPort: number;
  publicUrl: string;
  filesDir: string;
  cjkFont: string;
  /** RX_MATCH_AT=HH:MM pins the time of day matching checks opening hours at (tests, demos). */
  matchAtMinute?: number;
  sweepIntervalMs: number;
  searchSyncIntervalMs: number;
  timings: WorkflowTimings;
  /** Intake's prescribing-rule limits; DEFAULT_RULES when absent. */
  rules?: RulesConfig;
  /** Signs the pharmacist console's session JWTs (HS256); RX_SESSION_SECRET, at least 32 characters. */
  sessionSecret: string;
  /** Lifetime of a console session; renewed while the pharmacist keeps working (api/auth.ts). */
  sessionTtlMs: number;
  /** How long a pharmacist's claim on a prescription in review lasts unless renewed. */
  reviewClaimMs: number;
  /** Key-encryption secret for the pharmacists' server-held signing keys (docs/review.md). */
  reviewKeySecret: string;
  /** The insurance pre-check's adapter (RX_INSURER, RX_INSURER_URL, …); the rules engine when absent. */
  insurer?: InsurerConfig;
  /** Cold-chain rules, promised windows, ETA speeds (docs/delivery.md); loadDeliveryConfig() when absent. */
  delivery?: DeliveryConfig;
  /** Signs the patients' links (HS256, RX_PATIENT_LINK_SECRET) and how long one lasts (docs/patient.md). */
  patientLinkSecret: string;
  patientLinkTtlMs: number;
}

// Without RX_SESSION_SECRET each process signs with its own random secret: fine for one dev engine, but
// sessions end at restart and several API processes would not accept each other's cookies.
const DEV_SESSION_SECRET = randomBytes(32).toString('base64url');

function sessionSecret(): string {
  const s = process.env.RX_SESSION_SECRET;
  if ((s === undefined || s === '') && process.env.NODE_ENV === 'production') throw new Error('set RX_SESSION_SECRET (at least 32 characters) in production');
  if (s === undefined || s === '') return DEV_SESSION_SECRET;
  if (s.length < 32) throw new Error('RX_SESSION_SECRET must be at least 32 characters (e.g. openssl rand -base64 32)');
  return s;
}

export function loadConfig(): Config {
  const apiPort = num('RX_API_PORT', 18080);
  return {
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow',
    temporalAddress: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233',
    temporalNamespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    temporalUiUrl: process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:18233',
    taskQueue: process.env.RX_TASK_QUEUE ?? 'rxflow',
    elasticsearchUrl: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200',
    indexPrefix: process.env.RX_INDEX_PREFIX ?? 'rxflow',
    apiPort,
    publicUrl: process.env.RX_PUBLIC_URL ?? `http://127.0.0.1:${apiPort}`,
    filesDir: process.env.RX_FILES_DIR ?? path.join(ROOT, '.stack', 'files'),
    cjkFont: process.env.RX_CJK_FONT ?? '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
    matchAtMinute: process.env.RX_MATCH_AT ? minuteOfDay(process.env.RX_MATCH_AT) : undefined,
    sweepIntervalMs: num('RX_SWEEP_INTERVAL_MS', 5 * MINUTE),
    searchSyncIntervalMs: num('RX_SEARCH_SYNC_INTERVAL_MS', 250),
    timings: loadTimings(),
    sessionSecret: sessionSecret(),
    sessionTtlMs: num('RX_SESSION_TTL_MS', 30 * MINUTE),
    rules: loadRulesConfig(),
    reviewClaimMs: num('RX_REVIEW_CLAIM_MS', 10 * MINUTE),
    reviewKeySecret: reviewKeySecret(),
    insurer: loadInsurerConfig(),
    delivery: loadDeliveryConfig(),
    patientLinkSecret: patientLinkSecret(),
    patientLinkTtlMs: num('RX_PATIENT_LINK_TTL_DAYS', 30) * DAY,
  };
}

/** A fixed dev secret (links survive a restart and work across dev processes); production must set its own. */
export const DEV_PATIENT_LINK_SECRET = 'rxflow-dev-only-patient-link-secret-000';
function patientLinkSecret(): string {
  const v = process.env.RX_PATIENT_LINK_SECRET;
  if (v === undefined || v === '') {
    if (process.env.NODE_ENV === 'production') throw new Error('set RX_PATIENT_LINK_SECRET (at least 32 characters) in production: it signs the patients\' links');
    return DEV_PATIENT_LINK_SECRET;
  }
  if (v.length < 32) throw new Error('RX_PATIENT_LINK_SECRET must be at least 32 characters (e.g. openssl rand -base64 32)');
  return v;
}

/** The dev default only works outside production; production must set RX_REVIEW_KEY_SECRET (and keep it). */
export const DEV_REVIEW_KEY_SECRET = 'rxflow-dev-only-pharmacist-key-secret';
function reviewKeySecret(): string {
  const v = process.env.RX_REVIEW_KEY_SECRET;
  if (v) return v;
  if (process.env.NODE_ENV === 'production') throw new Error('RX_REVIEW_KEY_SECRET must be set in production: it encrypts the pharmacists\' signing keys');
  return DEV_REVIEW_KEY_SECRET;
}

/**
 * Temporal worker tuning (RX_WORKER_*): unset means the SDK's defaults. Measured in bench/e2e.ts
 * (docs/benchmarks-e2e.md); the engine's worker and the benchmark's ceiling worker read the same variables.
 */
export interface WorkerTuning {
  maxConcurrentWorkflowTaskExecutions?: number;
  maxConcurrentActivityTaskExecutions?: number;
  maxCachedWorkflows?: number;
  maxConcurrentWorkflowTaskPolls?: number;
  maxConcurrentActivityTaskPolls?: number;
}

export function loadWorkerTuning(): WorkerTuning {
  const opt = (name: string) => (process.env[name] ? num(name, 0) : undefined);
  const t: WorkerTuning = {
    maxConcurrentWorkflowTaskExecutions: opt('RX_WORKER_MAX_WORKFLOW_TASKS'),
    maxConcurrentActivityTaskExecutions: opt('RX_WORKER_MAX_ACTIVITIES'),
    maxCachedWorkflows: opt('RX_WORKER_MAX_CACHED_WORKFLOWS'),
    maxConcurrentWorkflowTaskPolls: opt('RX_WORKER_WORKFLOW_POLLERS'),
    maxConcurrentActivityTaskPolls: opt('RX_WORKER_ACTIVITY_POLLERS'),
  };
  return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as WorkerTuning;
}

/** RX_LOCAL_ACTIVITIES=1: workflows started from now on run their database steps as local activities. Off by default. */
export const localActivitiesEnabled = () => process.env.RX_LOCAL_ACTIVITIES === '1';

/**
 * The healer of workflows stuck on a nondeterminism error (activities/workflow-health.ts, docs/reliability.md):
 * how often it looks, how long a prescription's status must have stood still to be looked at, how many it
 * asks Temporal about per round, and how many resets one workflow may get in a day before only a person may.
 */
export interface WorkflowHealthConfig { intervalMs: number; staleMs: number; batch: number; maxResetsPerDay: number }
export function loadWorkflowHealthConfig(): WorkflowHealthConfig {
  return {
    intervalMs: num('RX_HEAL_INTERVAL_MS', 5 * MINUTE),
    staleMs: num('RX_HEAL_STALE_MS', 10 * MINUTE),
    batch: num('RX_HEAL_BATCH', 500),
    maxResetsPerDay: num('RX_HEAL_MAX_RESETS_PER_DAY', 3),
  };
}
