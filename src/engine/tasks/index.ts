/**
 * The registry of tasks (tasks/task.ts). Within an exchange they run in this order, which is
 * also the order of their payloads: for IKE_SA_INIT as strongSwan sends them (after SA, KE,
 * Ni/Nr): NAT detection, CERTREQ, SUPPORTED_AUTH_METHODS (RFC 9593: beside the CERTREQ), fragmentation, signature hashes, intermediate, childless; for IKE_AUTH
 * (after IDx and AUTH): the Child SA's N/SA/TS.
 */
import { certRequest } from './cert-request.js';
import { childInAuth } from './child-in-auth.js';
import { childless } from './childless.js';
import { fragmentation } from './fragmentation.js';
import { intermediateSupport } from './intermediate-support.js';
import { natDetection } from './nat-detection.js';
import { signatureHashes } from './signature-hashes.js';
import { supportedAuthMethods } from './supported-auth-methods.js';
import { usePpk } from './use-ppk.js';
import type { Task } from './task.js';
import { virtualIp } from './virtual-ip.js';

export const TASKS: readonly Task[] = [
  natDetection,
  certRequest,
  supportedAuthMethods,
  fragmentation,
  signatureHashes,
  intermediateSupport,
  childless,
  usePpk,
  virtualIp,
  childInAuth,
];
