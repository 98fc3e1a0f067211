// The URIs the FHIR face of rxflow reads and writes: HL7's where HL7 has one, rxflow's own namespace
// otherwise. One home, so docs/fhir.md, the mapper, the builders and the tests agree.

/** rxflow's namespace for its own code systems, identifier systems and extensions. */
export const RXFLOW_FHIR_NS = 'https://rxflow.example/fhir';

export const SYSTEM = {
  /** rxflow catalogue code, e.g. RX0001 (GET /v1/catalog). */
  drugCode: `${RXFLOW_FHIR_NS}/sid/drug-code`,
  /** National insurance drug code (医保药品编码), e.g. XC08CAB001A001. */
  insuranceDrugCode: `${RXFLOW_FHIR_NS}/sid/nhsa-drug-code`,
  /** NMPA approval number (国药准字), e.g. 国药准字H21026617. */
  approvalNumber: `${RXFLOW_FHIR_NS}/sid/nmpa-approval-number`,
  /** The hospital's code for a doctor, as registered with rxflow (doctor.code). */
  doctorCode: `${RXFLOW_FHIR_NS}/sid/doctor-code`,
  /** The hospital's own patient id (patient.ref). */
  patientRef: `${RXFLOW_FHIR_NS}/sid/patient-ref`,
  /** The hospital's prescription number (rxNo); groupIdentifier of every line. */
  rxNo: `${RXFLOW_FHIR_NS}/sid/rx-no`,
  /** rxflow's prescription id (uuid); Task.identifier. */
  prescriptionId: `${RXFLOW_FHIR_NS}/sid/prescription-id`,
  /** rxflow's prescription line id, `<prescription uuid>-<line no>`; MedicationRequest.identifier. */
  prescriptionLineId: `${RXFLOW_FHIR_NS}/sid/prescription-line-id`,
  /** Visit type: follow-up | first (Encounter.type). */
  visitType: `${RXFLOW_FHIR_NS}/CodeSystem/visit-type`,
  /** rxflow's internal prescription status (domain/prescription-status.ts); Task.businessStatus. */
  prescriptionStatus: `${RXFLOW_FHIR_NS}/CodeSystem/prescription-status`,
  /** The pharmacist's rejection reason codes (docs/review.md); MedicationRequest/Task.statusReason. */
  reviewReason: `${RXFLOW_FHIR_NS}/CodeSystem/review-reason`,
  /** The hospital's code as registered with rxflow (hospital.code); Organization.identifier. */
  hospitalCode: `${RXFLOW_FHIR_NS}/sid/hospital-code`,
  /** The pharmacy's code (pharmacy.code); Organization.identifier. */
  pharmacyCode: `${RXFLOW_FHIR_NS}/sid/pharmacy-code`,
  /** A doctor's practice licence number; Practitioner.qualification.identifier. */
  doctorLicence: `${RXFLOW_FHIR_NS}/sid/doctor-licence`,
  /** rxflow's fill (fulfilment order) id; MedicationDispense.identifier. */
  fillId: `${RXFLOW_FHIR_NS}/sid/fill-id`,
  /** The status model's fill states (domain/status-model.ts FILL_STATES). */
  fillState: `${RXFLOW_FHIR_NS}/CodeSystem/fill-state`,
  /** The patient-facing business status (domain/status-model.ts); Task extension …/patient-status. */
  patientStatus: `${RXFLOW_FHIR_NS}/CodeSystem/patient-status`,
  /** rxflow's machine-readable error codes (the house `code`); OperationOutcome.issue.details. */
  errorCode: `${RXFLOW_FHIR_NS}/CodeSystem/error-code`,

  // HL7 and other published systems
  v2IdentifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  v3RoleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  timingAbbreviation: 'http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation',
  courseOfTherapy: 'http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  taskCode: 'http://hl7.org/fhir/CodeSystem/task-code',
  signatureType: 'urn:iso-astm:E1762-95:2013',
  icd10: 'http://hl7.org/fhir/sid/icd-10',
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  ucum: 'http://unitsofmeasure.org',
} as const;

/** On MedicationDispense: the fill's state in the status model (valueCoding); `-ncpdp` the NCPDP-like fill status (valueString). */
export const EXTENSION_FILL_STATUS = `${RXFLOW_FHIR_NS}/StructureDefinition/fill-status`;
/** On Task: the patient-facing business status (valueCodeableConcept, `…/CodeSystem/patient-status`; English display, Chinese text). */
export const EXTENSION_PATIENT_STATUS = `${RXFLOW_FHIR_NS}/StructureDefinition/patient-status`;
/** On Task: the latest delivery's ETA (valueDateTime) and whether it is past its promised window (valueBoolean); docs/delivery.md. */
export const EXTENSION_DELIVERY_ETA = `${RXFLOW_FHIR_NS}/StructureDefinition/delivery-eta`;
export const EXTENSION_DELIVERY_LATE = `${RXFLOW_FHIR_NS}/StructureDefinition/delivery-late`;

export const EXTENSION = {
  /** On Bundle.signature: the signature algorithm, as in the JSON intake's signature.alg (e.g. ES256). */
  signatureAlg: `${RXFLOW_FHIR_NS}/StructureDefinition/signature-alg`,
  /** On Bundle.signature: the registered key id, as in the JSON intake's signature.keyId. */
  signatureKeyId: `${RXFLOW_FHIR_NS}/StructureDefinition/signature-key-id`,
  /** On MedicationRequest: delivery | pickup, the patient's choice after the visit. */
  fulfilmentMode: `${RXFLOW_FHIR_NS}/StructureDefinition/fulfilment-mode`,
  /** On MedicationRequest: why a chronic prescription runs longer than the ordinary limit. */
  longTermReason: `${RXFLOW_FHIR_NS}/StructureDefinition/long-term-reason`,
  /** On MedicationRequest.priorPrescription: the version this amendment replaces (valueInteger; docs/review.md). */
  amendsVersion: `${RXFLOW_FHIR_NS}/StructureDefinition/amends-version`,
  /** On Coverage: outpatient | chronic_special (门诊慢特病). */
  insuranceVisitType: `${RXFLOW_FHIR_NS}/StructureDefinition/insurance-visit-type`,
  /** On Coverage: deductible already used this year (valueMoney, CNY). */
  deductibleUsed: `${RXFLOW_FHIR_NS}/StructureDefinition/insurance-deductible-used`,
  /** On Coverage: paid by the plan this year (valueMoney, CNY). */
  paidThisYear: `${RXFLOW_FHIR_NS}/StructureDefinition/insurance-paid-this-year`,
  /** HL7's standard geolocation extension on Address (latitude/longitude sub-extensions). */
  geolocation: 'http://hl7.org/fhir/StructureDefinition/geolocation',
} as const;

/** LOINC 82810-3 Pregnancy status; SNOMED 77386006 Pregnant / 60001007 Not pregnant. */
export const PREGNANCY = { observation: '82810-3', pregnant: '77386006', notPregnant: '60001007' } as const;

/** LOINC 63895-7 Breastfeeding status; answers LA29252-6 currently / LA29253-4 not currently breastfeeding. */
export const LACTATION = { observation: '63895-7', yes: 'LA29252-6', no: 'LA29253-4' } as const;

/**
 * Quantitative Observations the pre-review uses (docs/review-checks.md), by LOINC code: the internal
 * field, and the factor from each accepted UCUM unit to the internal unit.
 */
export const MEASUREMENTS: Record<string, { field: 'weightKg' | 'egfr' | 'crcl' | 'creatinineUmolL'; units: Record<string, number> }> = {
  '29463-7': { field: 'weightKg', units: { kg: 1, g: 0.001 } },                                   // Body weight
  '33914-3': { field: 'egfr', units: { 'mL/min/{1.73_m2}': 1, 'mL/min/1.73m2': 1 } },            // eGFR, MDRD
  '48642-3': { field: 'egfr', units: { 'mL/min/{1.73_m2}': 1, 'mL/min/1.73m2': 1 } },            // eGFR, MDRD (non-black)
  '48643-1': { field: 'egfr', units: { 'mL/min/{1.73_m2}': 1, 'mL/min/1.73m2': 1 } },            // eGFR, MDRD (black)
  '62238-1': { field: 'egfr', units: { 'mL/min/{1.73_m2}': 1, 'mL/min/1.73m2': 1 } },            // eGFR, CKD-EPI
  '98979-8': { field: 'egfr', units: { 'mL/min/{1.73_m2}': 1, 'mL/min/1.73m2': 1 } },            // eGFR, CKD-EPI 2021
  '2164-2': { field: 'crcl', units: { 'mL/min': 1 } },                                            // Creatinine clearance
  '14682-9': { field: 'creatinineUmolL', units: { 'umol/L': 1 } },                                // Creatinine, serum (moles)
  '2160-0': { field: 'creatinineUmolL', units: { 'mg/dL': 88.42, 'umol/L': 1 } },                 // Creatinine, serum (mass)
};
