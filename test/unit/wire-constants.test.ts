// IANA registry constants (RFC 7296 §3, RFC 9370 §3, RFC 9242 §6, ...) and nameOf().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthMethod,
  CertEncoding,
  CfgType,
  EncrId,
  EsnId,
  ExchangeType,
  HashAlgorithm,
  HeaderFlags,
  IdType,
  IntegId,
  KeMethodId,
  NotifyType,
  ParseError,
  PayloadType,
  PrfId,
  ProtocolId,
  TransformType,
  TsType,
  isErrorNotify,
  isKeTransformType,
  nameOf,
} from '../../src/wire/index.js';

test('nameOf', () => {
  assert.equal(nameOf(ExchangeType, 43), 'IKE_INTERMEDIATE');
  assert.equal(nameOf(ExchangeType, 44), 'IKE_FOLLOWUP_KE');
  assert.equal(nameOf(ExchangeType, 99), 'UNKNOWN(99)');
  assert.equal(nameOf(PayloadType, 53), 'SKF');
  assert.equal(nameOf(AuthMethod, 2), 'PSK'); // canonical name before alias
  assert.equal(nameOf(NotifyType, 16420), 'IKEV2_MESSAGE_ID_SYNC_SUPPORTED');
  assert.equal(nameOf(TransformType, 12), 'ADDKE7');
});

test('registry values', () => {
  assert.deepEqual(
    [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL],
    [34, 35, 36, 37],
  );
  assert.deepEqual(
    [PayloadType.SA, PayloadType.KE, PayloadType.IDi, PayloadType.IDr, PayloadType.CERT, PayloadType.CERTREQ,
      PayloadType.AUTH, PayloadType.NONCE, PayloadType.NOTIFY, PayloadType.DELETE, PayloadType.VENDOR,
      PayloadType.TSi, PayloadType.TSr, PayloadType.SK, PayloadType.CP, PayloadType.EAP],
    Array.from({ length: 16 }, (_, i) => 33 + i),
  );
  assert.deepEqual(
    [TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.KE, TransformType.ESN, TransformType.ADDKE1],
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual([EncrId.AES_CBC, EncrId.AES_GCM_8, EncrId.AES_GCM_12, EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305], [12, 18, 19, 20, 28]);
  assert.deepEqual([PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384, PrfId.HMAC_SHA2_512], [5, 6, 7]);
  assert.deepEqual([IntegId.NONE, IntegId.HMAC_SHA2_256_128, IntegId.HMAC_SHA2_384_192, IntegId.HMAC_SHA2_512_256], [0, 12, 13, 14]);
  assert.deepEqual(
    [KeMethodId.MODP2048, KeMethodId.MODP3072, KeMethodId.MODP4096, KeMethodId.ECP256, KeMethodId.ECP384, KeMethodId.ECP521,
      KeMethodId.CURVE25519, KeMethodId.CURVE448, KeMethodId.MLKEM512, KeMethodId.MLKEM768, KeMethodId.MLKEM1024, KeMethodId.NONE],
    [14, 15, 16, 19, 20, 21, 31, 32, 35, 36, 37, 0],
  );
  assert.deepEqual([EsnId.NO_ESN, EsnId.ESN], [0, 1]);
  assert.deepEqual([ProtocolId.IKE, ProtocolId.AH, ProtocolId.ESP], [1, 2, 3]);
  assert.deepEqual(
    [IdType.IPV4_ADDR, IdType.FQDN, IdType.RFC822_ADDR, IdType.IPV6_ADDR, IdType.DER_ASN1_DN, IdType.DER_ASN1_GN, IdType.KEY_ID],
    [1, 2, 3, 5, 9, 10, 11],
  );
  assert.deepEqual([AuthMethod.RSA_SIG, AuthMethod.PSK, AuthMethod.NULL, AuthMethod.DIGITAL_SIGNATURE], [1, 2, 13, 14]);
  assert.deepEqual([TsType.IPV4_ADDR_RANGE, TsType.IPV6_ADDR_RANGE], [7, 8]);
  assert.deepEqual([HeaderFlags.INITIATOR, HeaderFlags.VERSION, HeaderFlags.RESPONSE], [0x08, 0x10, 0x20]);
  assert.deepEqual([CfgType.REQUEST, CfgType.REPLY, CfgType.SET, CfgType.ACK], [1, 2, 3, 4]);
  assert.equal(CertEncoding.X509_SIGNATURE, 4);
  assert.deepEqual([HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512, HashAlgorithm.IDENTITY], [2, 3, 4, 5]);
  const n = NotifyType;
  assert.deepEqual(
    [n.UNSUPPORTED_CRITICAL_PAYLOAD, n.INVALID_IKE_SPI, n.INVALID_MAJOR_VERSION, n.INVALID_SYNTAX, n.INVALID_MESSAGE_ID,
      n.INVALID_SPI, n.NO_PROPOSAL_CHOSEN, n.INVALID_KE_PAYLOAD, n.AUTHENTICATION_FAILED, n.SINGLE_PAIR_REQUIRED,
      n.NO_ADDITIONAL_SAS, n.INTERNAL_ADDRESS_FAILURE, n.FAILED_CP_REQUIRED, n.TS_UNACCEPTABLE, n.INVALID_SELECTORS,
      n.TEMPORARY_FAILURE, n.CHILD_SA_NOT_FOUND, n.STATE_NOT_FOUND],
    [1, 4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 43, 44, 47],
  );
  assert.deepEqual(
    [n.INITIAL_CONTACT, n.SET_WINDOW_SIZE, n.NAT_DETECTION_SOURCE_IP, n.NAT_DETECTION_DESTINATION_IP, n.COOKIE,
      n.USE_TRANSPORT_MODE, n.REKEY_SA, n.ESP_TFC_PADDING_NOT_SUPPORTED, n.NON_FIRST_FRAGMENTS_ALSO, n.MOBIKE_SUPPORTED,
      n.MULTIPLE_AUTH_SUPPORTED, n.REDIRECT_SUPPORTED, n.EAP_ONLY_AUTHENTICATION, n.CHILDLESS_IKEV2_SUPPORTED,
      n.IKE_MESSAGE_ID_SYNC_SUPPORTED, n.IKEV2_FRAGMENTATION_SUPPORTED, n.SIGNATURE_HASH_ALGORITHMS, n.USE_PPK,
      n.PPK_IDENTITY, n.NO_PPK_AUTH, n.INTERMEDIATE_EXCHANGE_SUPPORTED, n.ADDITIONAL_KEY_EXCHANGE, n.SUPPORTED_AUTH_METHODS],
    [16384, 16385, 16388, 16389, 16390, 16391, 16393, 16394, 16395, 16396, 16404, 16406, 16417, 16418, 16420,
      16430, 16431, 16435, 16436, 16437, 16438, 16441, 16443],
  );
  assert.ok(isErrorNotify(n.STATE_NOT_FOUND) && !isErrorNotify(n.COOKIE));
  assert.ok(isKeTransformType(4) && isKeTransformType(12) && !isKeTransformType(5) && !isKeTransformType(13));
});

test('ParseError carries code and payloadType', () => {
  const e = new ParseError('UNSUPPORTED_CRITICAL_PAYLOAD', 99);
  assert.equal(e.code, 'UNSUPPORTED_CRITICAL_PAYLOAD');
  assert.equal(e.payloadType, 99);
  assert.equal(e.name, 'ParseError');
  assert.ok(e instanceof Error);
  const f = new ParseError('TRUNCATED', 'short');
  assert.equal(f.payloadType, undefined);
  assert.match(f.message, /short/);
});
