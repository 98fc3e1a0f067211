// Errors in FHIR: the house error ({ code, message, details[] }, api/errors.ts) as an OperationOutcome.
// issue[0] is the error itself (its `code` in details.coding), then one issue per detail with its
// FHIR path in `expression` and its code in details.coding, so nothing of the house shape is lost.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';
import { SYSTEM } from './systems';

export interface HouseError { code: string; message: string; details?: { path?: string; code?: string; message: string }[] }

type IssueType = OperationOutcomeIssue['code'];

function issueTypeOfStatus(status: number, code: string): IssueType {
  if (code.startsWith('SIGNATURE_')) return 'security';
  switch (status) {
    case 400: return 'invalid';
    case 401: return 'login';
    case 403: return 'forbidden';
    case 404: return 'not-found';
    case 409: return 'conflict';
    case 413: return 'too-long';
    case 415: return 'not-supported';
    case 422: return 'business-rule';
    case 503: return 'transient';
    default: return status >= 500 ? 'exception' : 'processing';
  }
}

const DETAIL_TYPES: Record<string, IssueType> = {
  FHIR_REQUIRED: 'required',
  FHIR_UNSUPPORTED_RESOURCE: 'not-supported',
  FHIR_UNSUPPORTED_VALUE: 'not-supported',
  FHIR_UNKNOWN_DRUG: 'code-invalid',
  FHIR_UNKNOWN_DRUG_SYSTEM: 'code-invalid',
  FHIR_AMBIGUOUS_DRUG: 'code-invalid',
  FHIR_INVALID_VALUE: 'value',
  FHIR_SCHEMA: 'value',
  FHIR_UNRESOLVED_REFERENCE: 'not-found',
  FHIR_WRONG_REFERENCE_TYPE: 'structure',
  FHIR_NOT_A_BUNDLE: 'structure',
  FHIR_BUNDLE_TYPE: 'structure',
  FHIR_INCONSISTENT: 'invariant',
  FHIR_SIGNATURE_SIGNER: 'security',
};

const coded = (code: string | undefined, text: string) => ({ ...(code ? { coding: [{ system: SYSTEM.errorCode, code }] } : {}), text });

export function operationOutcome(status: number, err: HouseError): OperationOutcome {
  const top = issueTypeOfStatus(status, err.code);
  const severity = status >= 500 ? 'fatal' : 'error';
  return {
    resourceType: 'OperationOutcome',
    issue: [
      { severity, code: top, details: coded(err.code, err.message), diagnostics: err.message },
      ...(err.details ?? []).map((d): OperationOutcomeIssue => ({
        severity,
        code: (d.code && DETAIL_TYPES[d.code]) || (d.code?.startsWith('SIGNATURE_') ? 'security' : top),
        details: coded(d.code, d.message),
        diagnostics: d.message,
        ...(d.path ? { expression: [d.path] } : {}),
      })),
    ],
  };
}

/** Back to the house shape: what an integrator's generic error handler reads. */
export function houseErrorOf(outcome: OperationOutcome): HouseError {
  const [top, ...rest] = outcome.issue;
  const code = (i: OperationOutcomeIssue) => i.details?.coding?.find((c) => c.system === SYSTEM.errorCode)?.code;
  return {
    code: code(top) ?? 'UNKNOWN',
    message: top.diagnostics ?? top.details?.text ?? '',
    details: rest.map((i) => ({ ...(i.expression?.[0] ? { path: i.expression[0] } : {}), ...(code(i) ? { code: code(i) } : {}), message: i.diagnostics ?? i.details?.text ?? '' })),
  };
}
