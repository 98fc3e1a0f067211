// How an internal prescription status reads in FHIR R4. The table and the full status model (fill and
// handover states, MedicationDispense, the patient's business status) live in ../status-model.ts; this
// module re-exports them so existing imports keep working. One home.
export {
  FHIR_STATUS, fhirStatusOf, MEDICATION_REQUEST_STATUSES, MEDICATION_DISPENSE_STATUSES, TASK_STATUSES, TERMINAL_TASK_STATUSES,
  type FhirStatus, type MedicationRequestStatus, type MedicationDispenseStatus, type TaskStatus,
} from '../status-model';
export { PRESCRIPTION_STATUSES } from '../prescription-status';
