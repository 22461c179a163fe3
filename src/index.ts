/**
 * pqike as a library: the sans-I/O IKEv2 engine with RFC 9370 multiple key exchanges.
 *
 * An {@link IkeEngine} never touches a socket, a timer or the kernel. Its owner feeds it
 * datagrams ({@link IkeEngine.receive}), the time ({@link IkeEngine.tick} at
 * {@link IkeEngine.nextDeadline}) and commands ({@link IkeEngine.initiate},
 * {@link IkeEngine.rekeyIke}, ...), and after each call takes back what it produced:
 * {@link IkeEngine.drain} gives the datagrams to send and the events (IKE SA and Child SA up,
 * rekeyed, down, failures, logs), {@link IkeEngine.drainDataPlane} the ESP states and policies
 * to install. The README's "Embedding the engine" and `examples/embed.ts` show the whole loop;
 * {@link UdpDriver} is a ready-made one on node:dgram.
 *
 * The other entry points: `pqike/wire` (the message and payload codec), `pqike/crypto` (key
 * exchange methods, PRFs, the key schedule), `pqike/daemon` (the gateway daemon and its parts).
 *
 * @module pqike
 */
export * from './engine/index.js';
export { UdpDriver, monotonicMs, type UdpDriverOptions } from './io/index.js';

// Authentication (RFC 7296 §2.15, RFC 7427): what `ConnectionConfig.auth` takes.
export type { Authenticator, SignContext, PeerProof, Verification } from './auth/authenticator.js';
export { pskAuthenticator } from './auth/psk.js';
export { certificateAuthenticator, trustedPeerAuthenticator, type LocalCertificateOptions } from './auth/pubkey.js';
export { TrustStore, type TrustStoreOptions, type TrustQuery, type ChainVerdict } from './auth/trust-store.js';
export { parseCertificate, type ParsedCertificate } from './auth/x509.js';
export { issueCertificate, issueCrl, type IssueOptions, type CrlOptions } from './auth/pki.js';
export {
  loadPrivateKey, generatePrivateKey, publicKeyFromSpki, mlDsaBackend,
  type SignatureKeyType, type PrivateSignatureKey, type PublicSignatureKey, type PrivateKeyOptions, type MlDsaBackend,
} from './crypto/signature-keys.js';
export { mlkemBackend, type MlKemBackend } from './crypto/mlkem.js';
export type { TrafficSelector } from './wire/types.js';
export type { KeMethod } from './crypto/ke.js';
