/**
 * CHILDLESS_IKEV2_SUPPORTED in the IKE_SA_INIT response (RFC 6023 §3): we accept an IKE_AUTH
 * without a Child SA. (An initiator with `childless` asks for none: exchange-auth.ts.)
 */
import { ExchangeType, NotifyType } from '../../wire/constants.js';
import { notify } from '../payloads.js';
import type { Task } from './task.js';

export const childless: Task = {
  name: 'childless',
  exchanges: [ExchangeType.IKE_SA_INIT],
  buildResponse: (_x, _request, out) => void out.push(notify(NotifyType.CHILDLESS_IKEV2_SUPPORTED)),
};
