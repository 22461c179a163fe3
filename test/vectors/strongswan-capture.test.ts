// Consistency of the strongSwan 6.0.6 vector files among themselves (no project code involved):
// the pcap against exchanges.txt, moon's key log against sun's, and the shape of the logs that
// the key-schedule tests in strongswan-x25519-*.test.ts rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVectorSet, toHex, type IkeSaLog } from './load.js';
import { groupMessages, rawHeader, EXCHANGE_NAMES } from './capture-model.js';

const FOLDERS: { folder: string; additionalKes: number }[] = [
  { folder: 'psk-x25519-mlkem768', additionalKes: 1 },
  { folder: 'psk-x25519-mlkem768-mlkem1024', additionalKes: 2 },
];

const hexOf = (sa: IkeSaLog): unknown => ({
  stages: sa.stages.map((s) => ({
    kind: s.kind, index: s.index, ke: toHex(s.keSecret), ake: toHex(s.additionalKeSecret), nonces: toHex(s.nonces),
    skeyseed: toHex(s.skeyseed), d: toHex(s.skD), ai: toHex(s.skAi), ar: toHex(s.skAr), ei: toHex(s.skEi), er: toHex(s.skEr),
    pi: toHex(s.skPi), pr: toHex(s.skPr),
  })),
  intAuth: sa.intAuth.map((a) => ({ mid: a.messageId, dir: a.dir, prev: toHex(a.prev), ap: toHex(a.ap), apLength: a.apLength, skP: toHex(a.skP), result: toHex(a.result) })),
  auth: sa.auth.map((a) => ({ id: toHex(a.idPrime), skP: toHex(a.skP), octets: toHex(a.octets), psk: toHex(a.psk), kp: toHex(a.prfPskKeyPad), auth: toHex(a.auth) })),
  children: sa.children.map((c) => ({
    ke: c.keSecret && toHex(c.keSecret), ake: c.additionalKeSecret && toHex(c.additionalKeSecret), seed: toHex(c.seed),
    ei: toHex(c.encrI), er: toHex(c.encrR), ai: toHex(c.integI), ar: toHex(c.integR),
  })),
});

for (const { folder, additionalKes } of FOLDERS) {
  const v = loadVectorSet(folder);
  const n = additionalKes;

  test(`${folder}: every IKE datagram in capture.pcap matches exchanges.txt (frame, addresses, exchange, request/response, message ID, SPIs, length, fragment)`, () => {
    const lines = v.exchanges.filter((l) => l.kind === 'IKE');
    assert.equal(v.ike.length, lines.length, 'number of IKE datagrams');
    v.ike.forEach((d, i) => {
      const l = lines[i]!;
      const h = rawHeader(d.bytes);
      assert.equal(d.frame, l.frame, `datagram ${i}: frame`);
      assert.deepEqual([d.src, d.dst], [l.src, l.dst], `frame ${d.frame}: addresses`);
      assert.equal(EXCHANGE_NAMES[h.exchange], l.exchange, `frame ${d.frame}: exchange type`);
      assert.equal(h.response, l.response, `frame ${d.frame}: R flag`);
      assert.equal(h.messageId, l.messageId, `frame ${d.frame}: message ID`);
      assert.deepEqual([h.spiI, h.spiR], [l.spiI, l.spiR], `frame ${d.frame}: SPIs`);
      assert.equal(d.frameLength, l.length, `frame ${d.frame}: frame length`);
      assert.equal(h.length, d.bytes.length, `frame ${d.frame}: IKE header Length = UDP payload length`);
      assert.deepEqual(h.fragment, l.fragment, `frame ${d.frame}: SKF fragment number/total`);
    });
  });

  test(`${folder}: test/helpers/pcap.ts and the suite's own pcap reader extract the same IKE datagrams (frames, addresses, bytes)`, () => {
    assert.equal(v.ike.length, v.ikeOwnReader.length);
    v.ike.forEach((d, i) => {
      const o = v.ikeOwnReader[i]!;
      assert.deepEqual([d.frame, d.src, d.dst, toHex(d.bytes)], [o.frame, o.src, o.dst, toHex(o.bytes)], `datagram ${i}`);
    });
  });

  test(`${folder}: every ESP packet in capture.pcap matches exchanges.txt (frame, addresses, SPI, length)`, () => {
    const lines = v.exchanges.filter((l) => l.kind === 'ESP');
    assert.equal(v.esp.length, lines.length, 'number of ESP packets');
    v.esp.forEach((p, i) => {
      const l = lines[i]!;
      assert.equal(p.frame, l.frame);
      assert.deepEqual([p.src, p.dst], [l.src, l.dst]);
      assert.equal(new DataView(p.bytes.buffer, p.bytes.byteOffset).getUint32(0), l.espSpi, `frame ${p.frame}: SPI`);
      assert.equal(p.frameLength, l.length, `frame ${p.frame}: frame length`);
    });
  });

  test(`${folder}: the capture holds the expected exchange sequence (IKE_SA_INIT, ${n} IKE_INTERMEDIATE, IKE_AUTH, Child SA rekey with ${n} IKE_FOLLOWUP_KE, delete, IKE SA rekey with ${n} IKE_FOLLOWUP_KE, delete, final delete)`, () => {
    const msgs = groupMessages(v.ike);
    const seq = msgs.map((m) => `${m.exchangeName}/${m.header.response ? 'r' : 'q'}/${m.header.messageId}`);
    const ex: string[] = [];
    let mid = 0;
    const pair = (x: string): void => { ex.push(`${x}/q/${mid}`, `${x}/r/${mid}`); mid++; };
    pair('IKE_SA_INIT');
    for (let k = 0; k < n; k++) pair('IKE_INTERMEDIATE');
    pair('IKE_AUTH');
    pair('CREATE_CHILD_SA');
    for (let k = 0; k < n; k++) pair('IKE_FOLLOWUP_KE');
    pair('INFORMATIONAL');
    pair('CREATE_CHILD_SA');
    for (let k = 0; k < n; k++) pair('IKE_FOLLOWUP_KE');
    pair('INFORMATIONAL');
    mid = 0; // new IKE SA
    pair('INFORMATIONAL');
    assert.deepEqual(seq, ex);
  });

  test(`${folder}: moon's and sun's key logs hold identical values for every stage, IntAuth step, AUTH and Child SA`, () => {
    assert.deepEqual(v.moon.sas.map((s) => s.ikeSa), v.sun.sas.map((s) => s.ikeSa));
    for (const sa of v.moon.sas) assert.deepEqual(hexOf(v.sun.sa(sa.ikeSa)), hexOf(sa), `IKE SA ${sa.ikeSa}`);
    // Child SA SPIs: moon's inbound SPI is sun's outbound one and vice versa
    v.moon.sa(1).children.forEach((c, i) => {
      const s = v.sun.sa(1).children[i]!;
      assert.deepEqual([c.spiIn, c.spiOut], [s.spiOut, s.spiIn], `Child SA ${i}`);
    });
  });

  test(`${folder}: the key log has ${n + 1} stages for IKE SA 1 (IKE_SA_INIT + ${n} IKE_INTERMEDIATE), ${2 * n} IntAuth steps, 2 AUTH computations, 2 Child SAs, and one rekey stage for IKE SA 2`, () => {
    const sa1 = v.moon.sa(1);
    assert.deepEqual(sa1.stages.map((s) => `${s.kind}${s.index}`), ['init0', ...Array.from({ length: n }, (_, k) => `intermediate${k + 1}`)]);
    assert.deepEqual(sa1.intAuth.map((a) => `${a.dir}${a.messageId}`), Array.from({ length: n }, (_, k) => [`i${k + 1}`, `r${k + 1}`]).flat());
    assert.equal(sa1.auth.length, 2);
    assert.equal(sa1.children.length, 2);
    assert.deepEqual(v.moon.sas.map((s) => s.ikeSa), [1, 2]);
    assert.deepEqual(v.moon.sa(2).stages.map((s) => s.kind), ['rekey']);
    // every stage of IKE SA 1 uses the IKE_SA_INIT nonces
    for (const s of sa1.stages) assert.deepEqual(s.nonces, sa1.stages[0]!.nonces);
  });

  test(`${folder}: log semantics — IntAuth of IKE_INTERMEDIATE k is chained from step k-1 and keyed with SK_pi/SK_pr of stage k-1 (the keys protecting that exchange); AUTH uses the last stage's SK_p`, () => {
    const sa1 = v.moon.sa(1);
    const prev: Record<'i' | 'r', Uint8Array> = { i: new Uint8Array(0), r: new Uint8Array(0) };
    for (const a of sa1.intAuth) {
      const stage = sa1.stages[a.messageId - 1]!;
      assert.deepEqual(a.skP, a.dir === 'i' ? stage.skPi : stage.skPr, `${a.dir}${a.messageId}: SK_p`);
      assert.deepEqual(a.prev, prev[a.dir], `${a.dir}${a.messageId}: IntAuth_N-1`);
      prev[a.dir] = a.result;
    }
    const last = sa1.stages[sa1.stages.length - 1]!;
    assert.deepEqual(sa1.auth.map((a) => a.skP), [last.skPi, last.skPr]);
  });
}
