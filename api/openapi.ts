// The OpenAPI 3.1 description of the API, served at GET /openapi.json. Paths come from the routers as
// they are mounted (so a new route is described, or at least listed, the day it is added); request
// bodies come from the same zod schemas that validate them at the edge, so the document cannot drift
// from what the API accepts.
import type Router from '@koa/router';
import { z, type ZodType } from 'zod';
import { PrescriptionSubmissionSchema } from '../domain/prescription';
import { IssueLinkBody } from '../domain/patient-link';
import { FulfilmentBody } from './routes/patient';
import { CollectedBody, DeclineBody, DispenseBody, RemainderBody, ShortBody, StatusBody, StockBody } from './routes/fulfilment';
import { CancelBody } from './routes/prescriptions';
import { ReviewBody } from './routes/review';
import { EraseBody, LookupBody } from './routes/ops';
import { AdminIssueKeyBody, IssueKeyBody, RevokeKeyBody as RevokeApiKeyBody, RotateKeyBody } from './api-keys';
import { RegisterKeyBody, RevokeKeyBody } from './signing-keys';
import { ColdChainDecisionBody, TemperatureBody } from './routes/cold-chain';
import { CheckInAnswerSchema, RefillAnswerSchema } from '../domain/follow-up';
import { AdrCloseBody } from './follow-ups';
import { RequestSigningModeBody, RotateRequestSecretBody } from './routes/request-signing';

export interface RouteInfo { method: string; path: string }

/** Every method + path a router serves (its middleware layers have no methods and are skipped). */
export function routesOf(...routers: Router[]): RouteInfo[] {
  const out = new Map<string, RouteInfo>();
  for (const router of routers) {
    for (const layer of router.stack as { path: string; methods: string[] }[]) {
      for (const method of layer.methods.filter((m) => m !== 'HEAD')) out.set(`${method} ${layer.path}`, { method, path: layer.path });
    }
  }
  return [...out.values()].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

/** Request bodies by "METHOD /path", described from their validating schemas. */
const BODIES: Record<string, { schema: ZodType; summary: string }> = {
  'POST /v1/prescriptions': { schema: PrescriptionSubmissionSchema, summary: 'Push a signed prescription (201 created, 200 duplicate of an earlier push)' },
  'POST /v1/prescriptions/:id/review': { schema: ReviewBody, summary: 'A pharmacist approves or rejects (needs the claim)' },
  'POST /v1/prescriptions/:id/cancel': { schema: CancelBody, summary: 'The hospital cancels a prescription not yet dispensed' },
  'POST /v1/pharmacy/orders/:orderId/decline': { schema: DeclineBody, summary: 'The pharmacy declines an offered order' },
  'POST /v1/pharmacy/orders/:orderId/dispense': { schema: DispenseBody, summary: 'Check-before-dispense by traceability code, and dispense (all, or part with partial: true)' },
  'POST /v1/pharmacy/orders/:orderId/short': { schema: ShortBody, summary: 'The pharmacy reports lines it cannot fill' },
  'POST /v1/pharmacy/orders/:orderId/not-dispensed': { schema: RemainderBody, summary: 'After a partial fill, the pharmacy declares the rest not dispensed' },
  'POST /v1/pharmacy/orders/:orderId/collected': { schema: CollectedBody, summary: 'The patient collected a pickup order, with proof' },
  'PUT /v1/pharmacy/stock': { schema: StockBody, summary: 'Set stock and prices by SKU, all or nothing' },
  'POST /v1/deliveries/:id/status': { schema: StatusBody, summary: 'A delivery partner posts a status update' },
  'POST /v1/ops/patients/lookup': { schema: LookupBody, summary: 'An operator finds patients by ID number or phone, by keyed hash (docs/data-protection.md)' },
  'POST /v1/prescriptions/:id/follow-ups/:followUpId/answers': { schema: z.union([CheckInAnswerSchema, RefillAnswerSchema]), summary: 'The patient\'s answer to a sent follow-up (questionnaire fu-1: a check-in, or a refill reminder), through the hospital\'s app (docs/follow-up.md)' },
  'POST /v1/adr-tasks/:taskId/close': { schema: AdrCloseBody, summary: 'A pharmacist closes the adverse-reaction task they claimed, with a note' },
  'POST /v1/ops/patients/:id/erase': { schema: EraseBody, summary: 'An operator erases what retention lets go of a patient\'s data (docs/data-protection.md)' },
  'POST /v1/keys': { schema: IssueKeyBody, summary: 'Issue an API key for the caller\'s own party, optionally scoped and expiring; the secret is answered once (docs/security.md)' },
  'POST /v1/keys/:keyId/rotate': { schema: RotateKeyBody, summary: 'Rotate an API key: the successor works at once, the old key until the overlap ends' },
  'POST /v1/keys/:keyId/revoke': { schema: RevokeApiKeyBody, summary: 'Revoke an API key at once' },
  'POST /v1/ops/keys': { schema: AdminIssueKeyBody, summary: 'The operator issues an API key for a party by its code' },
  'POST /v1/hospital/signing-keys': { schema: RegisterKeyBody, summary: 'Register a signing key of the hospital (docs/signing.md)' },
  'POST /v1/hospital/signing-keys/:keyId/revoke': { schema: RevokeKeyBody, summary: 'Revoke a signing key of the hospital' },
  'POST /v1/hospitals/:code/signing-keys': { schema: RegisterKeyBody, summary: 'The operator registers a signing key for a hospital' },
  'POST /v1/hospitals/:code/signing-keys/:keyId/revoke': { schema: RevokeKeyBody, summary: 'The operator revokes a hospital\'s signing key' },
  'POST /v1/deliveries/:id/temperature': { schema: TemperatureBody, summary: 'A delivery partner posts a cold-chain parcel\'s temperature readings (idempotent; docs/delivery.md)' },
  'POST /v1/deliveries/:id/cold-chain-decision': { schema: ColdChainDecisionBody, summary: 'A pharmacist decides a cold-chain excursion: continue or return (docs/delivery.md)' },
  'POST /v1/prescriptions/:id/patient-links': { schema: IssueLinkBody, summary: 'The hospital issues a signed, expiring link for the patient or a family member (docs/patient.md)' },
  'PUT /v1/patient/fulfilment': { schema: FulfilmentBody, summary: 'The patient chooses delivery or pickup and the address, until a pharmacy is matched (docs/patient.md)' },
  'POST /v1/hospital/request-signing/rotate': { schema: RotateRequestSecretBody, summary: 'Rotate the hospital\'s request-signing secret: the new one is answered once, the previous one verifies for the overlap (docs/signing.md)' },
  'POST /v1/ops/hospitals/:code/request-signing/rotate': { schema: RotateRequestSecretBody, summary: 'The operator rotates a hospital\'s request-signing secret (answered once)' },
  'PUT /v1/ops/hospitals/:code/request-signing': { schema: RequestSigningModeBody, summary: 'The operator sets a hospital\'s request-signing mode: off, optional, required, or null for the default' },
};

const ERROR = {
  type: 'object', required: ['error'],
  properties: {
    error: {
      type: 'object', required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'machine-readable, e.g. VALIDATION_FAILED, RX_RULES_VIOLATED, SIGNATURE_INVALID (docs/intake-rules.md)' },
        message: { type: 'string', description: 'for people' },
        details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string', description: 'JSON path, e.g. $.lines[0].quantity' }, code: { type: 'string' }, message: { type: 'string' } }, required: ['message'] } },
      },
    },
  },
};

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export function openApiDocument(routes: RouteInfo[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, path } of routes) {
    const body = BODIES[`${method} ${path}`];
    const params = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    (paths[toOpenApiPath(path)] ??= {})[method.toLowerCase()] = {
      ...(body ? { summary: body.summary } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(path.startsWith('/v1/') ? { security: [{ apiKey: [] }, { consoleSession: [] }] } : {}),
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(body.schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) } } } } : {}),
      // FHIR R4 speaks FHIR: resources, and errors as OperationOutcome carrying the house codes (docs/fhir.md).
      ...(path.startsWith('/fhir/') ? {
        security: [{ apiKey: [] }, { consoleSession: [] }],
        ...(method === 'POST' ? { summary: 'Push a signed FHIR R4 Bundle (201 created, 200 duplicate); docs/fhir.md', requestBody: { required: true, content: { 'application/fhir+json': { schema: { type: 'object', description: 'a FHIR R4 Bundle' } } } } } : {}),
        responses: { default: { description: 'a FHIR R4 resource, or an OperationOutcome with the house error code (docs/fhir.md)', content: { 'application/fhir+json': { schema: { type: 'object' } } } } },
      } : {
        responses: {
          default: { description: 'success, or an error in the one shape', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      }),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'rxflow', version, description: 'Prescription routing and e-pharmacy fulfilment. Every error answers in the Error shape.' },
    paths,
    components: {
      schemas: { Error: ERROR },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'each party\'s API key (hospital, pharmacy, courier, pharmacist, operator)' },
        consoleSession: { type: 'apiKey', in: 'cookie', name: 'rx_session', description: 'the pharmacist console\'s session; unsafe methods also need X-CSRF-Token' },
      },
    },
  };
}
