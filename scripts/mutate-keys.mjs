#!/usr/bin/env node
// Mutation testing of the key paths (plain Node ESM, no dependencies). NOT part of CI: it
// compiles and runs the no-root tests once per mutation, 20-35 s each, so the whole list takes
// 21 min on Node 24 and 34 min on Node 20 on a 2-core machine shared with other test runs.
//
// A list of named mutations of the key schedule (src/crypto/keys.ts, src/crypto/prf.ts) and its
// call sites (src/engine/*), each one or more exact text replacements (the search string must
// occur exactly once in its file). For each mutation, in a clean copy of the repository (never
// in the working tree):
//   1. apply it, compile with `tsc -p .` (a mutation that adds a compile error is NOT VIABLE:
//      fix it in the list below, do not drop it);
//   2. run the tests that need no root, with CI unset:
//        node --test --test-concurrency=2 dist/test/{unit,vectors,engine}/*.test.js
//      and record KILLED (which tests failed) or SURVIVED;
//   3. put the file(s) back from the pristine text.
// The unmutated copy is compiled and tested first: its tests must all pass (else nothing can be
// judged), and compile errors it already has are not held against the mutations.
//
// Usage: node scripts/mutate-keys.mjs [--list] [--only NAME[,NAME...]] [--node PATH]
//          [--ref GIT_REF | --worktree] [--timeout MINUTES] [--report FILE] [--keep]
//   --list       print the mutations and exit
//   --only       run only these mutations (repeatable, comma-separated)
//   --node       node binary that runs the tests (default: this one), e.g.
//                .node24/node_modules/node/bin/node
//   --ref        git revision to copy (default HEAD; `git archive`)
//   --worktree   copy the working tree's tracked and untracked, not ignored, files instead
//   --timeout    minutes per test run before it is killed and counted as killed by timeout (10)
//   --report     JSON report file (default: <tmpdir>/pqike-mutate-keys-<time>.json)
//   --keep       keep the temporary copy
// Exit status: 0 if every mutation was killed (or is listed as equivalent, with the reason, and
// survived); 1 if any other survived, was not viable, or could not be applied; 2 if the run
// could not start (baseline failing, copy failed, bad options).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIRS = ['unit', 'vectors', 'engine'];

const KEYS = 'src/crypto/keys.ts';
const PRF = 'src/crypto/prf.ts';
const IKE_SA = 'src/engine/ike-sa.ts';
const CHILD = 'src/engine/child-sa.ts';
const AUTH = 'src/engine/exchange-auth.ts';
const PROT = 'src/engine/protection.ts';
const LIFE = 'src/engine/lifecycle.ts';
const CCS = 'src/engine/exchange-create-child.ts';
const INTER = 'src/engine/exchange-intermediate.ts';
const INIT = 'src/engine/exchange-init.ts';

const e = (file, search, replace) => ({ file, search, replace });

// The KE methods a suite names, in transform type order: what the proposal says, not what ran.
const FROM_SUITE = (s) => `[...(${s}).chosen.entries()].filter(([t, c]) => (t === TransformType.KE || (t >= TransformType.ADDKE1 && t <= TransformType.ADDKE7)) && c.id !== 0).sort(([a], [b]) => a - b).map(([, c]) => c.id)`;

/**
 * `equivalent`: why the mutation cannot change behaviour in the current code; it still runs, and
 * its survival is reported but does not fail the run (its being killed is reported too).
 * @type {{ name: string, what: string, edits: { file: string, search: string, replace: string }[], equivalent?: string }[]}
 */
export const MUTATIONS = [
  // ---- the two mutations the issue names ------------------------------------------------------
  {
    name: 'intermediate-skeyseed-nonces-swapped',
    what: 'issue mutation 1: SKEYSEED(n) after an IKE_INTERMEDIATE = prf(SK_d(n-1), SK(n) | Nr | Ni) (ike-sa.ts completeIntermediate)',
    edits: [e(IKE_SA, 'skeyseedIntermediate(this.prfId, k.skD, ss.secret, this.ni, this.nr)', 'skeyseedIntermediate(this.prfId, k.skD, ss.secret, this.nr, this.ni)')],
  },
  {
    name: 'addke-secrets-dropped-rekey-and-child',
    what: 'issue mutation 2: only SK(0) goes into the IKE SA rekey SKEYSEED and the Child SA KEYMAT; the ML-KEM (ADDKE) secrets are thrown away (keyFromRekey, makeChild)',
    edits: [
      e(IKE_SA, 'old.requireKeys().skD, secrets.map((s) => s.secret)', 'old.requireKeys().skD, secrets.slice(0, 1).map((s) => s.secret)'),
      e(CHILD, 'sa.requireKeys().skD, k.secrets.map((s) => s.secret)', 'sa.requireKeys().skD, k.secrets.slice(0, 1).map((s) => s.secret)'),
    ],
  },

  // ---- src/crypto/keys.ts -------------------------------------------------------------------------
  {
    name: 'init-skeyseed-nonces-swapped',
    what: 'SKEYSEED = prf(Nr | Ni, g^ir) after IKE_SA_INIT',
    edits: [e(KEYS, 'prf(prfId, Buffer.concat([ni, nr]), sharedSecret)', 'prf(prfId, Buffer.concat([nr, ni]), sharedSecret)')],
  },
  {
    name: 'keys-intermediate-skeyseed-nonces-swapped',
    what: 'skeyseedIntermediate itself: prf(SK_d(n-1), SK(n) | Nr | Ni)',
    edits: [e(KEYS, 'prf(prfId, skDPrev, [sharedSecret, ni, nr])', 'prf(prfId, skDPrev, [sharedSecret, nr, ni])')],
  },
  {
    name: 'intermediate-skeyseed-secret-after-nonces',
    what: 'SKEYSEED(n) = prf(SK_d(n-1), Ni | Nr | SK(n))',
    edits: [e(KEYS, 'prf(prfId, skDPrev, [sharedSecret, ni, nr])', 'prf(prfId, skDPrev, [ni, nr, sharedSecret])')],
  },
  {
    name: 'rekey-skeyseed-nonces-swapped',
    what: 'IKE SA rekey SKEYSEED = prf(SK_d, SK(0) | Nr | Ni | SK(1)..)',
    edits: [e(KEYS, 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)])', 'prf(prfId, skDOld, [secrets[0] as Uint8Array, nr, ni, ...secrets.slice(1)])')],
  },
  {
    name: 'rekey-skeyseed-additional-dropped',
    what: 'skeyseedRekey ignores SK(1)..SK(n)',
    edits: [e(KEYS, 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)])', 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr])')],
  },
  {
    name: 'rekey-skeyseed-sk0-after-nonces',
    what: 'IKE SA rekey SKEYSEED = prf(SK_d, Ni | Nr | SK(0) | SK(1)..)',
    edits: [e(KEYS, 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)])', 'prf(prfId, skDOld, [ni, nr, ...secrets])')],
  },
  {
    name: 'rekey-skeyseed-secrets-reversed',
    what: 'IKE SA rekey SKEYSEED with the secrets in reverse order: SK(n) | Ni | Nr | SK(n-1)..SK(0)',
    edits: [e(KEYS, 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)])', 'prf(prfId, skDOld, [[...secrets].reverse()[0] as Uint8Array, ni, nr, ...[...secrets].reverse().slice(1)])')],
  },
  {
    name: 'rekey-skeyseed-additional-reversed',
    what: 'IKE SA rekey SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(n)..SK(1)) (needs two ADDKEs to show)',
    edits: [e(KEYS, 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)])', 'prf(prfId, skDOld, [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1).reverse()])')],
  },
  {
    name: 'child-keymat-nonces-swapped',
    what: 'Child SA KEYMAT without a key exchange = prf+(SK_d, Nr | Ni)',
    edits: [e(KEYS, 'secrets.length === 0 ? [ni, nr] :', 'secrets.length === 0 ? [nr, ni] :')],
  },
  {
    name: 'child-keymat-pfs-nonces-swapped',
    what: 'Child SA KEYMAT with key exchanges = prf+(SK_d, SK(0) | Nr | Ni | SK(1)..)',
    edits: [e(KEYS, ': [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)];', ': [secrets[0] as Uint8Array, nr, ni, ...secrets.slice(1)];')],
  },
  {
    name: 'child-keymat-additional-dropped',
    what: 'childKeymat ignores SK(1)..SK(n)',
    edits: [e(KEYS, ': [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)];', ': [secrets[0] as Uint8Array, ni, nr];')],
  },
  {
    name: 'child-keymat-sk0-after-nonces',
    what: 'Child SA KEYMAT = prf+(SK_d, Ni | Nr | SK(0) | SK(1)..)',
    edits: [e(KEYS, ': [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)];', ': [ni, nr, ...secrets];')],
  },
  {
    name: 'child-keymat-additional-reversed',
    what: 'Child SA KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(n)..SK(1)) (needs two ADDKEs to show)',
    edits: [e(KEYS, ': [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1)];', ': [secrets[0] as Uint8Array, ni, nr, ...secrets.slice(1).reverse()];')],
  },
  {
    name: 'prfplus-seed-nonces-swapped',
    what: '{SK_*} = prf+(SKEYSEED, Nr | Ni | SPIi | SPIr)',
    edits: [e(KEYS, 'prfPlus(prfId, skeyseed, [ni, nr, spiI, spiR], total)', 'prfPlus(prfId, skeyseed, [nr, ni, spiI, spiR], total)')],
  },
  {
    name: 'prfplus-seed-spis-first',
    what: '{SK_*} = prf+(SKEYSEED, SPIi | SPIr | Ni | Nr)',
    edits: [e(KEYS, 'prfPlus(prfId, skeyseed, [ni, nr, spiI, spiR], total)', 'prfPlus(prfId, skeyseed, [spiI, spiR, ni, nr], total)')],
  },
  {
    name: 'intauth-chain-without-prev',
    what: 'intAuthStep: IntAuth_N = prf(SK_p, A|P) without IntAuth_(N-1)',
    edits: [e(KEYS, 'return prf(prfId, skP, [prev, ap]);', 'return prf(prfId, skP, [ap]);')],
  },
  {
    name: 'signed-octets-without-mid',
    what: 'signedOctets: IntAuth_i | IntAuth_r without the IKE_AUTH Message ID',
    edits: [e(KEYS, 'parts.push(intAuth.i, intAuth.r, u32be(intAuth.mid));', 'parts.push(intAuth.i, intAuth.r);')],
  },
  {
    name: 'ike-sk-split-pi-pr-swapped',
    what: 'deriveIkeSaKeys: SK_pr taken before SK_pi',
    edits: [e(KEYS, `  const skPi = take(p);
  const skPr = take(p);`, `  const skPr = take(p);
  const skPi = take(p);`)],
  },

  // ---- src/crypto/prf.ts ------------------------------------------------------------------------
  {
    name: 'prfplus-counter-from-zero',
    what: 'prf+: T1 = prf(K, S | 0x00), Tn = prf(K, Tn-1 | S | n-1)',
    edits: [e(PRF, 'counter[0] = i;', 'counter[0] = i - 1;')],
  },
  {
    name: 'prfplus-not-chained',
    what: 'prf+: Tn = prf(K, S | n), without Tn-1',
    edits: [e(PRF, '    if (prev !== undefined) h.update(prev);\n', '')],
  },
  {
    name: 'prf-first-part-only',
    what: 'prf(key, [parts]) hashes only the first part',
    edits: [e(PRF, 'else for (const d of data) h.update(d);', 'else h.update(data[0] ?? new Uint8Array(0));')],
  },

  // ---- src/engine/ike-sa.ts -----------------------------------------------------------------------
  {
    name: 'derive-keys-spis-swapped',
    what: 'deriveKeys passes SPIr, SPIi to prf+ (every key stage)',
    edits: [e(IKE_SA, 'this.ni, this.nr, this.spiI, this.spiR, {', 'this.ni, this.nr, this.spiR, this.spiI, {')],
  },
  {
    name: 'intauth-fold-with-new-keys',
    what: 'completeIntermediate folds the exchange into IntAuth with the keys derived from it, not the keys that protected it',
    edits: [e(IKE_SA, `    this.foldIntermediate(apRequest, apResponse);
    this.deriveKeys(skeyseedIntermediate(this.prfId, k.skD, ss.secret, this.ni, this.nr));`, `    this.deriveKeys(skeyseedIntermediate(this.prfId, k.skD, ss.secret, this.ni, this.nr));
    this.foldIntermediate(apRequest, apResponse);`)],
  },
  {
    name: 'intauth-request-response-swapped',
    what: "completeIntermediate: the response's A|P go into IntAuth_i and the request's into IntAuth_r",
    edits: [e(IKE_SA, 'this.foldIntermediate(apRequest, apResponse);\n    this.deriveKeys', 'this.foldIntermediate(apResponse, apRequest);\n    this.deriveKeys')],
  },
  {
    name: 'intauth-r-with-sk-pi',
    what: 'foldIntermediate: IntAuth_r computed with SK_pi (SK_pi for both directions)',
    edits: [e(IKE_SA, 'intAuthStep(this.prfId, k.skPr, this.intAuthR, apResponse)', 'intAuthStep(this.prfId, k.skPi, this.intAuthR, apResponse)')],
  },
  {
    name: 'intauth-fold-not-chained',
    what: 'foldIntermediate: each exchange restarts IntAuth_i / IntAuth_r from empty instead of chaining',
    edits: [e(IKE_SA, `    this.intAuthI = intAuthStep(this.prfId, k.skPi, this.intAuthI, apRequest);
    this.intAuthR = intAuthStep(this.prfId, k.skPr, this.intAuthR, apResponse);`, `    this.intAuthI = intAuthStep(this.prfId, k.skPi, EMPTY, apRequest);
    this.intAuthR = intAuthStep(this.prfId, k.skPr, EMPTY, apResponse);`)],
  },
  {
    name: 'rekey-skeyseed-prf-of-new-sa',
    what: "keyFromRekey: SKEYSEED computed with the new SA's PRF instead of the old SA's (RFC 7296 §2.18)",
    edits: [e(IKE_SA, 'skeyseedRekey(old.prfId, old.requireKeys().skD', 'skeyseedRekey(this.prfId, old.requireKeys().skD')],
  },
  {
    name: 'rekey-additional-dropped-call-site',
    what: 'keyFromRekey hands only SK(0) to skeyseedRekey',
    edits: [e(IKE_SA, 'old.requireKeys().skD, secrets.map((s) => s.secret)', 'old.requireKeys().skD, secrets.slice(0, 1).map((s) => s.secret)')],
  },
  {
    name: 'init-ke-method-first-offered',
    what: 'initiator: IKE_SA_INIT secret recorded with the first method it offered, not the one the exchange used (differs after INVALID_KE_PAYLOAD)',
    edits: [e(INIT, 'sa.keyFromInit({ method: sa.keGroup, secret });', 'sa.keyFromInit({ method: offeredKeMethods(conn)[0] ?? sa.keGroup, secret });')],
  },
  {
    name: 'intermediate-ke-method-not-recorded',
    what: 'completeIntermediate mixes in SK(n) without recording its method',
    edits: [e(IKE_SA, '    this.keMethodsDone.push(ss.method);\n', '')],
  },
  {
    name: 'rekey-ke-methods-inherited',
    what: "keyFromRekey reports the old SA's KE methods instead of those of the secrets",
    edits: [e(IKE_SA, 'this.keMethodsDone = secrets.map((s) => s.method);', 'this.keMethodsDone = [...old.keMethodsDone];')],
  },
  {
    name: 'ike-ke-methods-from-proposal',
    what: 'IkeSaInfo.keMethods read off the negotiated proposal instead of the secrets mixed in',
    edits: [e(IKE_SA, 'keMethods: [...this.keMethodsDone],', `keMethods: this.suite ? ${FROM_SUITE('this.suite')} : [],`)],
  },

  // ---- src/engine/child-sa.ts ---------------------------------------------------------------------
  {
    name: 'make-child-additional-dropped',
    what: 'makeChild hands only SK(0) to childKeymat',
    edits: [e(CHILD, 'sa.requireKeys().skD, k.secrets.map((s) => s.secret)', 'sa.requireKeys().skD, k.secrets.slice(0, 1).map((s) => s.secret)')],
  },
  {
    name: 'make-child-nonces-swapped',
    what: 'makeChild passes Nr, Ni to childKeymat',
    edits: [e(CHILD, 'k.secrets.map((s) => s.secret), k.ni, k.nr,', 'k.secrets.map((s) => s.secret), k.nr, k.ni,')],
  },
  {
    name: 'keymat-split-i-r-swapped',
    what: "KEYMAT split: the responder's keys first (initiator and responder keys swapped)",
    edits: [e(CHILD, '{ encrI: take(lengths.encr), integI: take(lengths.integ), encrR: take(lengths.encr), integR: take(lengths.integ) }', '{ encrR: take(lengths.encr), integR: take(lengths.integ), encrI: take(lengths.encr), integI: take(lengths.integ) }')],
  },
  {
    name: 'keymat-split-integ-before-encr',
    what: 'KEYMAT split: integrity key before encryption key in each direction',
    edits: [e(CHILD, '{ encrI: take(lengths.encr), integI: take(lengths.integ), encrR: take(lengths.encr), integR: take(lengths.integ) }', '{ integI: take(lengths.integ), encrI: take(lengths.encr), integR: take(lengths.integ), encrR: take(lengths.encr) }')],
  },
  {
    name: 'child-ke-methods-of-ike-sa',
    what: "a Child SA with a key exchange reports the IKE SA's KE methods instead of those of its own secrets",
    edits: [e(CHILD, 'const keMethods = k.secrets.map((s) => s.method);', 'const keMethods = k.secrets.length === 0 ? [] : [...sa.keMethodsDone];')],
  },
  {
    name: 'child-ke-methods-from-proposal',
    what: 'ChildSaInfo.keMethods read off the ESP proposal instead of the secrets',
    edits: [e(CHILD, 'const keMethods = k.secrets.map((s) => s.method);', `const keMethods = ${FROM_SUITE('suite')};`)],
    equivalent: 'every path to makeChild runs exactly the methods of the chosen suite first: IKE_AUTH selects with ignoreKe (no KE transforms, no secrets), CREATE_CHILD_SA checks KE = keOf(suite) and finishes only after every ADDKE of the suite',
  },

  // ---- src/engine/exchange-auth.ts ----------------------------------------------------------------
  {
    name: 'auth-intauth-omitted',
    what: 'AUTH signed octets without IntAuth_i | IntAuth_r | MID after IKE_INTERMEDIATE',
    edits: [e(AUTH, 'sa.intermediateRan ? { i: sa.intAuthI, r: sa.intAuthR, mid: authMid } : undefined', 'undefined')],
  },
  {
    name: 'auth-intauth-i-r-swapped',
    what: 'AUTH signed octets carry IntAuth_r | IntAuth_i',
    edits: [e(AUTH, '{ i: sa.intAuthI, r: sa.intAuthR, mid: authMid }', '{ i: sa.intAuthR, r: sa.intAuthI, mid: authMid }')],
  },
  {
    name: 'auth-mid-of-previous-exchange',
    what: 'AUTH signed octets carry the Message ID of the exchange before IKE_AUTH (the last IKE_INTERMEDIATE)',
    edits: [e(AUTH, '{ i: sa.intAuthI, r: sa.intAuthR, mid: authMid }', '{ i: sa.intAuthI, r: sa.intAuthR, mid: authMid - 1 }')],
  },
  {
    name: 'auth-initiator-mid-of-previous-exchange',
    what: 'initiator signs with the Message ID of its last IKE_INTERMEDIATE, the responder checks with the IKE_AUTH one',
    edits: [e(AUTH, 'const mid = sa.nextRequestId;', 'const mid = sa.nextRequestId - 1;')],
  },
  {
    name: 'auth-sk-p-swapped',
    what: 'AUTH: prf(SK_pr, IDi\') for the initiator and prf(SK_pi, IDr\') for the responder',
    edits: [e(AUTH, 'ofInitiator ? k.skPi : k.skPr', 'ofInitiator ? k.skPr : k.skPi')],
  },
  {
    name: 'auth-own-nonce',
    what: "AUTH signed octets carry the signer's own nonce instead of the peer's",
    edits: [e(AUTH, 'ofInitiator ? sa.nr : sa.ni', 'ofInitiator ? sa.ni : sa.nr')],
  },

  // ---- src/engine/protection.ts -------------------------------------------------------------------
  {
    name: 'ap-from-ciphertext',
    what: "the A|P of a message we send is the encrypted message as sent, not the plaintext with 'as if unencrypted' lengths",
    edits: [e(PROT, '    return { datagrams: [concat([aad, cipher.seal(keys, aad, plain, { iv: iv(cipher.ivLength) })])], ap };',
      '    const sent = concat([aad, cipher.seal(keys, aad, plain, { iv: iv(cipher.ivLength) })]);\n    return { datagrams: [sent], ap: wantAp ? sent : ap };')],
  },
  {
    name: 'ap-lengths-without-sk-header',
    what: 'intAuthOctets: IKE header Length = 28 + |P| (the SK payload header left out of the length)',
    edits: [e(PROT, 'header(frame, PayloadType.SK, IKE_HEADER + SK_HEADER + plain.length)', 'header(frame, PayloadType.SK, IKE_HEADER + plain.length)')],
  },
  {
    name: 'received-ap-own-flags',
    what: "receivedAp rebuilds the peer's header with our own Initiator flag",
    edits: [e(IKE_SA, 'const flags = (this.isInitiator ? 0 : HeaderFlags.INITIATOR) | (response ? HeaderFlags.RESPONSE : 0);', 'const flags = (this.isInitiator ? HeaderFlags.INITIATOR : 0) | (response ? HeaderFlags.RESPONSE : 0);')],
  },

  // ---- src/engine/lifecycle.ts --------------------------------------------------------------------
  {
    name: 'rekey-with-new-sa-sk-d',
    what: "finishIkeRekey: the new SA's SKEYSEED from the new SA's own (first) SK_d instead of the old SA's",
    edits: [e(LIFE, '  sa.keyFromRekey(old, r.secrets);\n', '  sa.keyFromRekey(old, r.secrets);\n  sa.keyFromRekey(sa, r.secrets);\n')],
  },
  {
    name: 'rekey-nonces-swapped',
    what: 'finishIkeRekey: the new SA takes Nr as Ni and Ni as Nr (SKEYSEED and prf+)',
    edits: [e(LIFE, '  sa.ni = r.ni;\n  sa.nr = r.nr;\n', '  sa.ni = r.nr;\n  sa.nr = r.ni;\n')],
  },

  // ---- src/engine/exchange-create-child.ts --------------------------------------------------------
  {
    name: 'followup-secret-not-collected-initiator',
    what: "initiator: an IKE_FOLLOWUP_KE secret is not added to the series' secrets",
    edits: [e(CCS, '  st.secrets.push({ method: next.method, secret });\n', '')],
  },
  {
    name: 'followup-secret-first-responder',
    what: "responder: an IKE_FOLLOWUP_KE secret is put in front of SK(0)",
    edits: [e(CCS, 'series.secrets.push({ method: next.method, secret: reply.sharedSecret });', 'series.secrets.unshift({ method: next.method, secret: reply.sharedSecret });')],
  },
  {
    name: 'ccs-initiator-child-nonces-swapped',
    what: 'initiator: the new Child SA keyed with the CREATE_CHILD_SA nonces swapped',
    edits: [e(CCS, `  const child = makeChild(sa, config, suite, {
    ni: st.ni,
    nr,`, `  const child = makeChild(sa, config, suite, {
    ni: nr,
    nr: st.ni,`)],
  },

  // ---- src/engine/exchange-intermediate.ts --------------------------------------------------------
  {
    name: 'responder-empty-intermediate-not-folded',
    what: 'responder: an IKE_INTERMEDIATE without a key exchange does not enter IntAuth',
    edits: [e(INTER, '    sa.foldIntermediate(ap, apResp);\n', '')],
  },
  {
    name: 'responder-intermediate-ap-swapped',
    what: "responder: its own response's A|P folded as the request's and vice versa",
    edits: [e(INTER, 'sa.completeIntermediate(ap, apResp, { method, secret: reply.sharedSecret });', 'sa.completeIntermediate(apResp, ap, { method, secret: reply.sharedSecret });')],
  },
];

// ---------------------------------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`mutate-keys: ${msg}`);
  console.error('usage: node scripts/mutate-keys.mjs [--list] [--only NAME[,NAME]] [--node PATH] [--ref REV | --worktree] [--timeout MIN] [--report FILE] [--keep]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { list: false, only: [], node: process.execPath, ref: 'HEAD', worktree: false, timeoutMin: 10, report: undefined, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--list') o.list = true;
    else if (a === '--only') o.only.push(...val().split(',').filter(Boolean));
    else if (a === '--node') o.node = resolve(val());
    else if (a === '--ref') o.ref = val();
    else if (a === '--worktree') o.worktree = true;
    else if (a === '--timeout') o.timeoutMin = Number(val());
    else if (a === '--report') o.report = resolve(val());
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (!(o.timeoutMin > 0)) usage('--timeout must be a positive number of minutes');
  return o;
}

function count(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

function fmtMs(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** A clean copy of the repository in `dir`, with node_modules linked in. */
function makeCopy(dir, opts) {
  if (opts.worktree) {
    const ls = spawnSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (ls.status !== 0) throw new Error(`git ls-files failed: ${ls.stderr}`);
    for (const f of ls.stdout.split('\0').filter(Boolean)) {
      if (!existsSync(join(ROOT, f))) continue; // deleted in the working tree
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(dir, f));
    }
  } else {
    const r = spawnSync('sh', ['-c', 'git -C "$1" archive --format=tar "$2" | tar -x -C "$3"', 'sh', ROOT, opts.ref, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git archive ${opts.ref} failed: ${r.stderr}`);
  }
  const nm = join(ROOT, 'node_modules');
  if (!existsSync(nm)) throw new Error(`${nm} missing: run npm ci in ${ROOT} first`);
  symlinkSync(nm, join(dir, 'node_modules'), 'dir');
}

/** tsc -p . in the copy; returns its diagnostics as a multiset of position-free keys. */
function compile(dir) {
  const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', '.', '--incremental', '--tsBuildInfoFile', '.mutate.tsbuildinfo', '--pretty', 'false'], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26 });
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => /error TS\d+/.test(l));
  const keys = new Map();
  for (const l of lines) {
    const k = l.replace(/^(.*?)\(\d+,\d+\)/, '$1');
    keys.set(k, (keys.get(k) ?? 0) + 1);
  }
  return { status: r.status, lines, keys };
}

function newErrors(base, now) {
  const out = [];
  const left = new Map(base.keys);
  for (const l of now.lines) {
    const k = l.replace(/^(.*?)\(\d+,\d+\)/, '$1');
    const n = left.get(k) ?? 0;
    if (n > 0) left.set(k, n - 1);
    else out.push(l);
  }
  return out;
}

function testFiles(dir) {
  const files = [];
  for (const d of TEST_DIRS) {
    const p = join(dir, 'dist', 'test', d);
    if (!existsSync(p)) continue;
    for (const f of readdirSync(p).sort()) if (f.endsWith('.test.js')) files.push(join('dist', 'test', d, f));
  }
  return files;
}

/** dist/test/x/y.test.js -> test/x/y.test.ts */
function sourceOf(dir, loc) {
  const file = loc.replace(/:\d+:\d+$/, '');
  const rel = relative(dir, file.startsWith('file://') ? fileURLToPath(file) : file);
  return rel.replace(/^dist\//, '').replace(/\.js$/, '.ts');
}

/**
 * Parse node's TAP output: the failing leaf tests (a failing test none of whose subtests
 * failed), each with the test file it is in.
 */
function parseTap(dir, text) {
  const failures = [];
  let pass = 0;
  let fail = 0;
  const childFailed = [];
  let last;
  for (const line of text.split('\n')) {
    const m = /^( *)(not ok|ok) \d+ - (.*)$/.exec(line);
    if (m) {
      const depth = m[1].length / 4;
      let name = m[3];
      const directive = / # (SKIP|TODO)\b/i.exec(name);
      if (directive) name = name.slice(0, directive.index);
      const failed = m[2] === 'not ok' && !directive;
      const leaf = !childFailed[depth + 1];
      childFailed[depth + 1] = false;
      if (failed) {
        childFailed[depth] = true;
        if (leaf) {
          last = { name: name.replace(/\\#/g, '#'), file: undefined, depth };
          failures.push(last);
          fail++;
        } else last = undefined;
      } else {
        if (m[2] === 'ok' && leaf && depth >= 0) pass++;
        last = undefined;
      }
      continue;
    }
    const loc = /^ +location: '(.*)'$/.exec(line);
    if (loc && last && last.file === undefined) last.file = sourceOf(dir, loc[1]);
  }
  for (const f of failures) if (f.file === undefined) f.file = /\.test\.js$/.test(f.name) ? sourceOf(dir, f.name) : '?';
  return { failures, pass, fail };
}

let running; // the test process group being run, to kill on a signal

function runTests(dir, opts) {
  return new Promise((resolveRun) => {
    const env = { ...process.env };
    delete env.CI;
    const files = testFiles(dir);
    const child = spawn(opts.node, ['--test', '--test-concurrency=2', '--test-reporter=tap', ...files], {
      cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    running = child;
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, opts.timeoutMin * 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      const text = Buffer.concat(out).toString('utf8');
      resolveRun({ code, signal, timedOut, text, stderr: Buffer.concat(err).toString('utf8'), ...parseTap(dir, text) });
    });
  });
}

function applyEdits(dir, m, pristine) {
  const byFile = new Map();
  for (const ed of m.edits) {
    const cur = byFile.get(ed.file) ?? pristine.get(ed.file);
    const n = count(cur, ed.search);
    if (n !== 1) return `search string occurs ${n} times in ${ed.file}: ${JSON.stringify(ed.search.slice(0, 80))}`;
    byFile.set(ed.file, cur.replace(ed.search, () => ed.replace));
  }
  for (const [file, text] of byFile) writeFileSync(join(dir, file), text);
  return undefined;
}

function restore(dir, pristine) {
  for (const [file, text] of pristine) {
    const p = join(dir, file);
    if (!existsSync(p) || readFileSync(p, 'utf8') !== text) writeFileSync(p, text);
  }
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r, k) => {
    const line = r.map((c, i) => String(c).padEnd(widths[i])).join(' | ');
    return k === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}` : line;
  }).join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) {
    for (const m of MUTATIONS) console.log(`${m.name}\n    ${m.what}\n    in ${[...new Set(m.edits.map((x) => x.file))].join(', ')}${m.equivalent ? `\n    equivalent: ${m.equivalent}` : ''}`);
    console.log(`${MUTATIONS.length} mutations`);
    return 0;
  }
  const names = new Set(MUTATIONS.map((m) => m.name));
  if (names.size !== MUTATIONS.length) usage('duplicate mutation names in the list');
  for (const n of opts.only) if (!names.has(n)) usage(`no mutation named ${n} (see --list)`);
  const chosen = opts.only.length > 0 ? MUTATIONS.filter((m) => opts.only.includes(m.name)) : MUTATIONS;

  const nodeVersion = spawnSync(opts.node, ['--version'], { encoding: 'utf8' });
  if (nodeVersion.status !== 0) usage(`cannot run ${opts.node}`);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'pqike-mutate-'));
  const report = opts.report ?? join(tmpdir(), `pqike-mutate-keys-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
  const source = opts.worktree ? `working tree of ${ROOT}` : `${opts.ref} (${spawnSync('git', ['-C', ROOT, 'rev-parse', opts.ref], { encoding: 'utf8' }).stdout.trim()})`;
  console.log(`[mutate-keys] ${chosen.length} mutation(s) of ${source} in ${dir}; tests on node ${nodeVersion.stdout.trim()} (${opts.node}); timeout ${opts.timeoutMin} min per run`);

  const pristine = new Map();
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    if (running) try { process.kill(-running.pid, 'SIGKILL'); } catch { /* gone */ }
    try { restore(dir, pristine); } catch { /* best effort */ }
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  };
  // Also on an unexpected exit (an exception, EPIPE on stdout): no stray copy or test run.
  process.on('exit', () => cleanup());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\n[mutate-keys] ${sig}: restoring and stopping`);
      cleanup();
      process.exit(130);
    });
  }

  const results = [];
  let baseline;
  try {
    makeCopy(dir, opts);
    for (const f of new Set(MUTATIONS.flatMap((m) => m.edits.map((x) => x.file)))) {
      const p = join(dir, f);
      if (!existsSync(p)) throw new Error(`${f} not in the copy`);
      pristine.set(f, readFileSync(p, 'utf8'));
    }
    // Every edit must apply to the pristine text before anything runs.
    const unusable = [];
    for (const m of chosen) {
      for (const ed of m.edits) {
        const n = count(pristine.get(ed.file), ed.search);
        if (n !== 1) unusable.push(`${m.name}: search string occurs ${n} times in ${ed.file}`);
      }
    }
    if (unusable.length > 0) console.error(`[mutate-keys] cannot apply (fix the list):\n  ${unusable.join('\n  ')}`);

    let t0 = Date.now();
    const baseTsc = compile(dir);
    if (baseTsc.lines.length > 0) {
      console.log(`[mutate-keys] note: the unmutated copy has ${baseTsc.lines.length} compile error(s) of its own (ignored when judging mutations):\n  ${baseTsc.lines.join('\n  ')}`);
    }
    const base = await runTests(dir, opts);
    baseline = { compileErrors: baseTsc.lines, pass: base.pass, fail: base.fail, durationMs: Date.now() - t0 };
    console.log(`[mutate-keys] baseline: ${base.pass} passed, ${base.fail} failed, exit ${base.code}${base.timedOut ? ' (TIMEOUT)' : ''} in ${fmtMs(Date.now() - t0)}`);
    if (base.fail > 0 || base.code !== 0 || base.timedOut || base.pass === 0) {
      for (const f of base.failures.slice(0, 10)) console.error(`  FAIL ${f.file} > ${f.name}`);
      if (base.timedOut) console.error(`  the test run took longer than ${opts.timeoutMin} min: raise --timeout`);
      else if (base.failures.length === 0) console.error(base.stderr.slice(-4000) || base.text.slice(-4000));
      throw Object.assign(new Error('the unmutated copy does not pass its tests: nothing can be judged'), { exit: 2 });
    }

    for (const [k, m] of chosen.entries()) {
      t0 = Date.now();
      const label = `[${k + 1}/${chosen.length}] ${m.name}`;
      const res = { name: m.name, what: m.what, files: [...new Set(m.edits.map((x) => x.file))], status: '', killedBy: 0, failedTests: [], failedFiles: {} };
      try {
        const bad = applyEdits(dir, m, pristine);
        if (bad) {
          res.status = 'NOT APPLICABLE';
          res.detail = bad;
        } else {
          const tsc = compile(dir);
          const added = newErrors(baseTsc, tsc);
          if (added.length > 0) {
            res.status = 'NOT VIABLE';
            res.detail = added.join('\n');
          } else {
            const r = await runTests(dir, opts);
            res.testExit = r.code;
            res.pass = r.pass;
            if (r.timedOut) {
              res.status = 'KILLED';
              res.detail = `timeout after ${opts.timeoutMin} min`;
            } else if (r.fail > 0) {
              res.status = 'KILLED';
            } else if (r.code !== 0) {
              res.status = 'KILLED';
              res.detail = `test run exited ${r.code ?? r.signal} with no failing test in its output: ${r.stderr.slice(-500)}`;
            } else {
              res.status = m.equivalent ? 'EQUIVALENT' : 'SURVIVED';
            }
            res.failedTests = r.failures.map((f) => ({ file: f.file, name: f.name }));
            res.killedBy = r.failures.length;
            for (const f of r.failures) res.failedFiles[f.file] = (res.failedFiles[f.file] ?? 0) + 1;
          }
        }
      } finally {
        restore(dir, pristine);
      }
      res.durationMs = Date.now() - t0;
      if (m.equivalent) res.equivalent = m.equivalent;
      if (m.equivalent && res.status === 'KILLED') res.detail = `${res.detail ? `${res.detail}; ` : ''}listed as equivalent, yet killed: revisit the note in the list`;
      results.push(res);
      const first = res.failedTests[0];
      console.log(`${label}: ${res.status}${res.killedBy ? ` by ${res.killedBy} test(s) in ${Object.keys(res.failedFiles).length} file(s)` : ''} (${fmtMs(res.durationMs)})`);
      if (res.status === 'KILLED') {
        for (const [f, n] of Object.entries(res.failedFiles)) console.log(`    ${f}: ${n}`);
        for (const t of res.failedTests.slice(0, 3)) console.log(`    - ${t.name}`);
        if (res.detail) console.log(`    ${res.detail}`);
      } else if (res.detail) console.log(`    ${res.detail.split('\n').join('\n    ')}`);
      else if (m.equivalent) console.log(`    survives as expected (equivalent): ${m.equivalent}`);
      else if (!first) console.log(`    ${m.what}`);
    }
  } catch (err) {
    console.error(`[mutate-keys] ${err.message}`);
    cleanup();
    return err.exit ?? 2;
  }

  const totalMs = Date.now() - started;
  const rows = [['mutation', 'result', 'killed by', 'first killing test']];
  for (const r of results) {
    const f = r.failedTests[0];
    rows.push([r.name, r.status, r.killedBy, f ? `${f.file} > ${f.name}`.slice(0, 110) : (r.detail ?? '').split('\n')[0].slice(0, 110)]);
  }
  console.log(`\n${table(rows)}\n`);
  const by = (s) => results.filter((r) => r.status === s);
  const survived = by('SURVIVED');
  const notViable = [...by('NOT VIABLE'), ...by('NOT APPLICABLE')];
  console.log(`[mutate-keys] ${by('KILLED').length} killed, ${survived.length} survived, ${by('EQUIVALENT').length} equivalent (survived as expected), ${notViable.length} not viable/applicable, of ${results.length}; total ${fmtMs(totalMs)} (node ${nodeVersion.stdout.trim()})`);
  for (const r of survived) console.log(`  SURVIVED ${r.name}: ${r.what}`);
  for (const r of by('EQUIVALENT')) console.log(`  EQUIVALENT ${r.name}: ${r.equivalent}`);
  for (const r of notViable) console.log(`  ${r.status} ${r.name}: ${(r.detail ?? '').split('\n')[0]}`);
  writeFileSync(report, `${JSON.stringify({
    source, node: nodeVersion.stdout.trim(), nodePath: opts.node, started: new Date(started).toISOString(), durationMs: totalMs,
    testCommand: `node --test --test-concurrency=2 dist/test/{${TEST_DIRS.join(',')}}/*.test.js (CI unset)`,
    baseline, results,
  }, null, 2)}\n`);
  console.log(`[mutate-keys] report: ${report}`);
  cleanup();
  return survived.length > 0 || notViable.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
