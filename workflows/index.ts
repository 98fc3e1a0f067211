// Entry point the worker bundles. Only workflow code (and type-only imports) may be reachable from here.
export { prescriptionWorkflow } from './prescription';
export { reservationSweeperWorkflow } from './sweeper';
export { webhookDeliveryWorkflow, webhookDrainerWorkflow } from './webhooks';
export { workflowHealerWorkflow } from './workflow-healer';
