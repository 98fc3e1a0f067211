// Authorisation as data: who may do what, and on whose resources. The one place that says it; routes
// declare their action (api/access.ts `authorize`), the resource loaders enforce the scope, the access
// matrix test walks every route against this table, and docs/security.md prints it (a test keeps the
// two equal). Pure data: no I/O.
import type { Role } from './types';

/** Every role a key or a session can carry. A key of a role not listed here authenticates to nothing. */
export const ROLES = ['hospital', 'pharmacist', 'lead_pharmacist', 'pharmacy', 'courier', 'operator', 'auditor', 'patient'] as const satisfies readonly Role[];

/**
 * Whose resources a role reaches with an action.
 * - own: its own tenant's (a hospital's prescriptions, keys, webhook and events);
 * - assigned: what the platform gave it to work on (a pharmacist's review queue and the prescriptions they
 *   claimed or decided; the orders offered to a pharmacy; a courier's deliveries);
 * - any: every tenant's (platform staff).
 * A patient's tenant is the one prescription its link names: `own` for a patient is that prescription.
 */
export type Scope = 'own' | 'assigned' | 'any';

/**
 * What an action acts on, so a loader knows what to check and the matrix test knows which resource of
 * which tenant to name: a prescription, an order, a delivery or an event by id in the path; a hospital by
 * code in the path (`hospital`); the caller's own tenant implied by the key (`tenant`); or nothing that
 * belongs to a tenant (`platform`).
 */
export type ResourceKind = 'prescription' | 'order' | 'delivery' | 'event' | 'hospital' | 'api_key' | 'tenant' | 'platform';

export interface ActionInfo { resource: ResourceKind; writes: boolean; description: string }

export const ACTIONS = {
  'prescription.push': { resource: 'tenant', writes: true, description: 'push a signed prescription (or an amendment) from the HIS' },
  'prescription.read': { resource: 'prescription', writes: false, description: 'read a prescription, its timeline, versions and slip' },
  'prescription.cancel': { resource: 'prescription', writes: true, description: 'cancel a prescription until it is dispensed' },
  'review.queue': { resource: 'platform', writes: false, description: 'list the review queue' },
  'review.open': { resource: 'prescription', writes: false, description: 'open a queued prescription with the patient\'s context and history' },
  'review.claim': { resource: 'prescription', writes: true, description: 'claim (lease) a prescription for review, or release the claim' },
  'review.decide': { resource: 'prescription', writes: true, description: 'approve or reject with reason codes; the decision is signed' },
  'review.read': { resource: 'prescription', writes: false, description: 'read the signed review decision and verify its signature' },
  'review.reassign': { resource: 'prescription', writes: true, description: 'break another pharmacist\'s claim (through release) so the review can move on' },
  'order.list': { resource: 'tenant', writes: false, description: 'list the orders offered to the pharmacy' },
  'order.respond': { resource: 'order', writes: true, description: 'accept or decline an offered order' },
  'order.fulfil': { resource: 'order', writes: true, description: 'dispense (scan every pack), report a short line, confirm a pickup' },
  'stock.write': { resource: 'tenant', writes: true, description: 'set the pharmacy\'s stock and prices (bulk, up to 1,000 lines)' },
  'delivery.list': { resource: 'tenant', writes: false, description: 'list the courier\'s active deliveries (masked contact data)' },
  'delivery.read': { resource: 'delivery', writes: false, description: 'download a delivery\'s label' },
  'delivery.update': { resource: 'delivery', writes: true, description: 'post a delivery status (delivered needs proof)' },
  'catalog.read': { resource: 'platform', writes: false, description: 'search drugs and pharmacies; read the review reason codes' },
  'alerts.read': { resource: 'platform', writes: false, description: 'read re-sold pack alerts (traceability codes seen twice)' },
  'reports.read': { resource: 'platform', writes: false, description: 'monthly prescription analytics (JSON, CSV)' },
  'supervision.export': { resource: 'platform', writes: false, description: 'export a day\'s supervision feed for a region (recorded)' },
  'events.read': { resource: 'tenant', writes: false, description: 'replay and tail a hospital\'s event feed' },
  'webhook.manage': { resource: 'tenant', writes: true, description: 'register, read, rotate the secret of, and remove the hospital\'s webhook' },
  'webhook.deliveries': { resource: 'tenant', writes: false, description: 'list webhook deliveries' },
  'webhook.redeliver': { resource: 'event', writes: true, description: 'deliver an event again' },
  'webhook.admin': { resource: 'hospital', writes: false, description: 'list every hospital\'s webhook endpoint and its delivery counts' },
  'signing_key.manage': { resource: 'tenant', writes: true, description: 'list, register and revoke the hospital\'s own signing keys' },
  'signing_key.admin': { resource: 'hospital', writes: true, description: 'list, register and revoke any hospital\'s signing keys' },
  'settlement.read': { resource: 'prescription', writes: false, description: 'read a prescription\'s insurance pre-check, settlement and reversal' },
  'insurance.policies': { resource: 'platform', writes: false, description: 'read the loaded insurance policy versions' },
  'audit.verify': { resource: 'platform', writes: false, description: 'verify the hash chains of the audit trail (docs/audit.md)' },
  'audit.export': { resource: 'platform', writes: false, description: 'export the audit trail for a date range and region, with its hashes (recorded)' },
  'patient.lookup': { resource: 'platform', writes: false, description: 'find a patient by ID number or phone, through their keyed hashes (recorded)' },
  'patient.export': { resource: 'platform', writes: false, description: 'export everything held about a patient (recorded)' },
  'patient.erase': { resource: 'platform', writes: true, description: 'erase a patient\'s personal data where retention allows (recorded)' },
  'api_key.manage': { resource: 'tenant', writes: true, description: 'list and issue the caller\'s own API keys (scoped, expiring)' },
  'api_key.rotate': { resource: 'api_key', writes: true, description: 'rotate an API key (the old one stays valid for an overlap) or revoke it' },
  'api_key.admin': { resource: 'platform', writes: true, description: 'list every party\'s API keys and issue one for a party' },
  'partner.read': { resource: 'platform', writes: false, description: 'list the delivery partners: areas, capabilities, endpoints, promised windows (never a secret)' },
  'partner.manage': { resource: 'platform', writes: true, description: 'register, update and deactivate delivery partners; rotate a partner\'s signing secret' },
  'delivery.temperature': { resource: 'delivery', writes: true, description: 'post a cold-chain parcel\'s temperature readings (idempotent per sensor and time)' },
  'coldchain.queue': { resource: 'platform', writes: false, description: 'list cold-chain excursions with their readings (the pharmacists\' task list)' },
  'coldchain.decide': { resource: 'delivery', writes: true, description: 'decide a cold-chain excursion: the drug is usable (continue) or the parcel goes back (return)' },
  // Follow-up (docs/follow-up.md): the plan and its answers through the hospital's patient app; the ADR work.
  'follow_up.read': { resource: 'prescription', writes: false, description: 'read a prescription\'s follow-up plan, its statuses and answers' },
  'follow_up.answer': { resource: 'prescription', writes: true, description: 'answer a sent follow-up questionnaire for the patient (adherence, side effects, refill)' },
  'adr.queue': { resource: 'platform', writes: false, description: 'list the adverse-reaction tasks, serious and severe first' },
  'adr.work': { resource: 'platform', writes: true, description: 'claim an adverse-reaction task and close it with a note' },
  'adr.export': { resource: 'platform', writes: false, description: 'export ADR reports in the national form\'s fields (JSON, CSV)' },
  'patient_link.issue': { resource: 'prescription', writes: true, description: 'issue a signed, expiring link for the patient or a family member to one prescription (docs/patient.md)' },
  'patient_link.list': { resource: 'prescription', writes: false, description: 'list a prescription\'s patient links (never the tokens)' },
  'patient_link.revoke': { resource: 'prescription', writes: true, description: 'revoke a patient link' },
  'patient_portal.read': { resource: 'tenant', writes: false, description: 'the patient\'s view of the prescription in their link: status, pharmacy, delivery, what they pay' },
  'patient_portal.choose': { resource: 'tenant', writes: true, description: 'choose delivery or pickup and the address, until a pharmacy is matched' },
  'patient_portal.confirm': { resource: 'tenant', writes: true, description: 'confirm receipt after delivery or pickup' },
  'patient_portal.answer': { resource: 'tenant', writes: true, description: 'answer a follow-up (adherence, refill) and report a side effect with it' },
  // Request signing (docs/signing.md): a hospital's systems sign their calls with an HMAC secret besides the API key.
  'request_signing.manage': { resource: 'tenant', writes: true, description: 'read the hospital\'s request-signing mode and secret ids; rotate its own signing secret (shown once)' },
  'request_signing.admin': { resource: 'hospital', writes: true, description: 'read any hospital\'s request-signing mode and secret ids, set its mode (off, optional, required), rotate its secret' },
} as const satisfies Record<string, ActionInfo>;

export type Action = keyof typeof ACTIONS;

export interface PolicyRow { role: Role; action: Action; scope: Scope }

const row = (role: Role, scope: Scope, ...actions: Action[]): PolicyRow[] => actions.map((action) => ({ role, action, scope }));

/** Everything not listed is refused (403 for the role, whatever the resource). */
export const POLICY: readonly PolicyRow[] = [
  ...row('hospital', 'own', 'prescription.push', 'prescription.read', 'prescription.cancel', 'review.read', 'events.read',
    'webhook.manage', 'webhook.deliveries', 'webhook.redeliver', 'signing_key.manage', 'settlement.read'),
  ...row('hospital', 'own', 'patient_link.issue', 'patient_link.list', 'patient_link.revoke'),
  ...row('hospital', 'any', 'catalog.read'),
  // A pharmacist works the shared queue: what is in review, and what they claimed or decided themselves.
  ...row('pharmacist', 'assigned', 'prescription.read', 'review.queue', 'review.open', 'review.claim', 'review.decide', 'review.read', 'settlement.read'),
  ...row('pharmacist', 'any', 'catalog.read'),
  // The lead pharmacist is a pharmacist who oversees every review and may move a stuck claim on.
  ...row('lead_pharmacist', 'assigned', 'review.queue', 'review.open', 'review.claim', 'review.decide'),
  ...row('lead_pharmacist', 'any', 'prescription.read', 'review.read', 'review.reassign', 'catalog.read', 'settlement.read'),
  ...row('pharmacy', 'assigned', 'order.list', 'order.respond', 'order.fulfil'),
  ...row('pharmacy', 'own', 'stock.write'),
  ...row('pharmacy', 'any', 'catalog.read'),
  // Machine clients rotate their own keys without downtime (docs/security.md "API keys").
  ...row('hospital', 'own', 'api_key.manage', 'api_key.rotate'),
  ...row('pharmacy', 'own', 'api_key.manage', 'api_key.rotate'),
  ...row('courier', 'own', 'api_key.manage', 'api_key.rotate'),
  ...row('operator', 'any', 'api_key.admin', 'api_key.rotate'),
  ...row('courier', 'assigned', 'delivery.list', 'delivery.read', 'delivery.update'),
  ...row('courier', 'any', 'catalog.read'),
  ...row('operator', 'any', 'prescription.read', 'review.read', 'catalog.read', 'alerts.read', 'reports.read', 'supervision.export',
    'events.read', 'webhook.deliveries', 'webhook.redeliver', 'webhook.admin', 'signing_key.admin', 'settlement.read', 'insurance.policies',
    'audit.verify', 'audit.export', 'patient.lookup', 'patient.export', 'patient.erase'),
  ...row('operator', 'any', 'partner.read', 'partner.manage'),
  // Cold chain (docs/delivery.md): the courier posts readings; any pharmacist on duty decides an excursion.
  ...row('courier', 'assigned', 'delivery.temperature'),
  ...row('pharmacist', 'any', 'coldchain.queue', 'coldchain.decide'),
  ...row('lead_pharmacist', 'any', 'coldchain.queue', 'coldchain.decide'),
  ...row('operator', 'any', 'coldchain.queue'),
  // The auditor reads everything that is a record and changes nothing.
  ...row('auditor', 'any', 'prescription.read', 'review.read', 'catalog.read', 'alerts.read', 'reports.read', 'supervision.export',
    'webhook.deliveries', 'webhook.admin', 'settlement.read', 'insurance.policies', 'audit.verify', 'audit.export'),
  ...row('auditor', 'any', 'partner.read'),
  // Follow-up: answers come through the hospital's own patient app; pharmacists work the ADR tasks.
  ...row('hospital', 'own', 'follow_up.read', 'follow_up.answer'),
  ...row('pharmacist', 'any', 'adr.queue', 'adr.work', 'adr.export'),
  ...row('lead_pharmacist', 'any', 'adr.queue', 'adr.work', 'adr.export'),
  ...row('operator', 'any', 'follow_up.read', 'adr.export'),
  ...row('auditor', 'any', 'follow_up.read', 'adr.export'),
  // Operators list and revoke patient links (a lost phone); only the hospital issues them.
  ...row('operator', 'any', 'patient_link.list', 'patient_link.revoke'),
  // A patient or family member: the one prescription of their link, through the patient routes only.
  ...row('patient', 'own', 'patient_portal.read', 'patient_portal.choose', 'patient_portal.confirm', 'patient_portal.answer'),
  // Request signing: the hospital rotates its own secret; only an operator sets a hospital's mode.
  ...row('hospital', 'own', 'request_signing.manage'),
  ...row('operator', 'any', 'request_signing.admin'),
];

/** The actions a role may take at all: what a key of that role may be scoped to. */
export function actionsOf(role: Role): Action[] {
  return POLICY.filter((r) => r.role === role).map((r) => r.action);
}

/** The scope a role has for an action, or null when the role may never do it. */
export function scopeFor(role: Role, action: Action): Scope | null {
  return POLICY.find((r) => r.role === role && r.action === action)?.scope ?? null;
}

/** Whether a resource of `tenantId` is within reach for a caller of party `partyId` with `scope`. */
export function withinScope(scope: Scope | null, partyId: string, tenantId: string | null | undefined): boolean {
  if (scope === 'any') return true;
  if (scope === null || !tenantId) return false;
  return tenantId === partyId;
}

/**
 * Routes that need no key, each with why. Everything else must name an action in the table: the matrix
 * test fails on a route that does neither, so a route added later is classified before it ships.
 */
export const PUBLIC_ROUTES: Record<string, string> = {
  'GET /health': 'dependency status for load balancers; no data of any tenant',
  'GET /metrics': 'Prometheus counters; no data of any tenant',
  'GET /openapi.json': 'the API\'s description (routes and body schemas); no data of any tenant',
  'GET /console': 'the pharmacist console page (static; its data calls need a session)',
  'GET /console/assets/console.js': 'static console asset',
  'GET /console/assets/api.js': 'static console asset',
  'GET /console/assets/i18n.js': 'static console asset',
  'GET /console/assets/console.css': 'static console asset',
  'POST /console/login': 'the console login (same-origin only, failures throttled per name)',
  'GET /console/session': 'who is logged in; answers 401 without a valid session cookie',
  'POST /console/logout': 'ends the session (needs its CSRF token while it is live)',
  'GET /ops/reports': 'the operator report page (static; its data call needs an operator key)',
  'GET /ops/assets/ops-reports.js': 'static report page asset',
  'GET /ops/assets/ops-reports.css': 'static report page asset',
  'GET /ops/assets/echarts.min.js': 'static report page asset',
  'GET /p/': 'the patient page (static; the link\'s token stays in the URL fragment and its data calls send it as a bearer token)',
  'GET /p/assets/patient.js': 'static patient page asset',
  'GET /p/assets/i18n.js': 'static patient page asset',
  'GET /p/assets/patient.css': 'static patient page asset',
};

/** The policy as the Markdown table docs/security.md carries between its policy markers. */
export function policyMarkdown(): string {
  const roles = ROLES as readonly Role[];
  const label: Record<Scope, string> = { own: 'own', assigned: 'assigned', any: 'any' };
  const lines = [
    `| action | what it is | ${roles.join(' | ')} |`,
    `|---|---|${roles.map(() => '---').join('|')}|`,
    ...(Object.keys(ACTIONS) as Action[]).map((a) =>
      `| \`${a}\` | ${ACTIONS[a].description} | ${roles.map((r) => { const s = scopeFor(r, a); return s ? label[s] : '—'; }).join(' | ')} |`),
  ];
  return lines.join('\n');
}
