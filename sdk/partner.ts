// rxflow for delivery partners: sign a status update to rxflow's API (docs/delivery.md). The scheme is
// rxflow's one request signing, sdk/request-signing.ts (copy both files, node:crypto only), under the names
// of the partners' contract: the request id travels as X-Rxflow-Update-Id and is called the update id.
//
//   Authorization:        Bearer <the partner's API key>
//   X-Rxflow-Update-Id:   <unique id of this update, 8–100 of [A-Za-z0-9._:-]; never reused>
//   X-Rxflow-Signature:   t=<unix seconds>,v1=<hex HMAC-SHA256(secret, signing string)>
//
//   signing string = t + "\n" + updateId + "\n" + METHOD + "\n" + path (with query) + "\n" + raw body
//
// rxflow refuses a timestamp more than 5 minutes from its clock (STALE_REQUEST), a signature that no
// active secret of the partner makes (BAD_SIGNATURE), and an update id or signature it has seen before
// (REPLAYED_UPDATE). During a secret rotation either the new or the previous secret verifies.
import {
  checkSignature, computeSignature, REQUEST_ID_PATTERN, SIGNATURE_HEADER, signingString, signRequest, TOLERANCE_SECONDS, UPDATE_ID_HEADER,
  type SignatureCheck, type SignatureProblem,
} from './request-signing';

export const PARTNER_SIGNATURE_HEADER = SIGNATURE_HEADER;
export const PARTNER_UPDATE_ID_HEADER = UPDATE_ID_HEADER;
export const PARTNER_TOLERANCE_SECONDS = TOLERANCE_SECONDS;
export const UPDATE_ID_PATTERN = REQUEST_ID_PATTERN;

export interface PartnerRequest { method: string; path: string; body: string; updateId?: string; timestamp?: number }

export const partnerSigningString = signingString;
export const computePartnerSignature = computeSignature;

/** Both headers for an update (a fresh update id unless you give one); send the very body you signed. */
export const signPartnerRequest = (secret: string, req: PartnerRequest): Record<string, string> =>
  signRequest(secret, { ...req, requestId: req.updateId }, UPDATE_ID_HEADER);

export type PartnerSignatureProblem = SignatureProblem;

/** rxflow's check (exported so a partner can test its signer against it): null when it verifies. */
export const checkPartnerSignature = (secrets: string[], o: Omit<SignatureCheck, 'requestId'> & { updateId: string }) =>
  checkSignature(secrets, { ...o, requestId: o.updateId });
