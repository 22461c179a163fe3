/** Human-readable names of negotiated suites, in the style of strongSwan's listings. */
import { EncrId, IntegId, KeMethodId, PrfId, TransformType, nameOf } from '../wire/constants.js';
import type { SelectedSuite } from './proposal-select.js';

export function describeTransform(type: number, id: number, keyBits?: number): string {
  switch (type) {
    case TransformType.ENCR:
      return `${nameOf(EncrId, id)}${keyBits === undefined ? '' : `_${keyBits}`}`;
    case TransformType.PRF:
      return `PRF_${nameOf(PrfId, id)}`;
    case TransformType.INTEG:
      return nameOf(IntegId, id);
    case TransformType.ESN:
      return id === 1 ? 'ESN' : 'NO_ESN';
    default:
      if (type === TransformType.KE) return nameOf(KeMethodId, id);
      return `KE${type - TransformType.ADDKE1 + 1}_${nameOf(KeMethodId, id)}`;
  }
}

/** e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE25519/KE1_MLKEM768". */
export function describeSuite(s: SelectedSuite): string {
  const parts: string[] = [];
  const types = [...s.chosen.keys()].sort((a, b) => a - b);
  for (const t of types) {
    const c = s.chosen.get(t);
    if (c) parts.push(describeTransform(t, c.id, c.keyBits));
  }
  return parts.join('/');
}
