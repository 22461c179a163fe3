/**
 * Public surface of the crypto layer: key exchange methods (MODP, ECP, X25519/X448, ML-KEM)
 * behind one KEM-shaped interface, PRF and prf+, SK protection, and the key schedule
 * (RFC 7296 §2.14, RFC 9370 §2.2.2, RFC 9242 IntAuth).
 *
 * @module pqike/crypto
 */
export { CryptoError, type CryptoErrorCode } from './errors.js';
export { keMethod, supportedKeMethods, isKem, KeId, type KeMethod, type KeInitiatorState } from './ke.js';
export { ecpFromPrivate } from './ecp.js';
export { ecxFromPrivate } from './ecx.js';
export {
  mlkemBackend, mlkemWith, mlkemAvailableBackends, mlkemNativeAvailable, mlkemFromSeed,
  mlkemCheckEncapsulationKey, mlkemCheckCiphertext, mlkemLevelOf,
  type MlKemBackend, type MlKemLevel,
} from './mlkem.js';
export { prf, prfPlus, prfOutputLength, prfKeyLength, supportedPrfs, PrfIds } from './prf.js';
export { integMac, integKeyLength, integIcvLength, supportedIntegs, IntegIds } from './integ.js';
export { skCipher, EncrIds, type SkCipher, type SkKeys, type SkSealOptions } from './sk-cipher.js';
export {
  skeyseedInit, skeyseedIntermediate, skeyseedRekey, deriveIkeSaKeys, childKeymat,
  intAuthStep, pskAuth, signedOctets, type IkeSaKeys,
} from './keys.js';
export { espKeyLengths, EspEncrIds } from './esp-algs.js';
export { constantTimeEqual, toHex, fromHex, concatBytes } from './util.js';
