/**
 * A pqike hybrid exchange captured on a veth between two network namespaces (pqike initiator
 * in A, pqike responder in B, both on UDP 500) and dissected by Debian's tshark: no
 * malformed-packet warnings; IKE_SA_INIT/IKE_AUTH named, the RFC 9242 exchange type 43 shown
 * (tshark 4.0 calls it "Unknown"), and our SKF fragments reassembled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interopSkipReason, startCapture, startInNs, withNetnsPair, nsExec } from './netns.js';
import { assertNoMalformed, dissect } from './tshark.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const skip = interopSkipReason(['ip', 'tshark', 'dumpcap']);

async function hybridCapture(proposal: string, expectFragments: boolean, decrypt = false): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pqike-tshark-'));
  const psk = join(dir, 'psk');
  writeFileSync(psk, 'pqike-interop-psk-0123456789abcdef', { mode: 0o600 });
  try {
    await withNetnsPair(async (pair) => {
      const pcap = join(dir, 'pqike.pcap');
      const cap = await startCapture(pair.a.ns, pair.a.ifname, pcap, { filter: 'udp port 500 or udp port 4500' });
      const common = ['--psk-file', psk, '--ike', proposal, '--fragment-size', '1280'];
      const responder = await startInNs(
        pair.b.ns,
        process.execPath,
        [CLI, 'respond', '--local', pair.b.addr, '--local-id', 'sun.pqike.test', '--local-ts', '10.99.2.0/24', '--count', '1', ...common],
        { readyPattern: /listening on/ },
      );
      const init = await nsExec(pair.a.ns, process.execPath, [
        CLI, 'initiate', '--local', pair.a.addr, '--remote', pair.b.addr, '--local-id', 'moon.pqike.test',
        '--remote-id', 'sun.pqike.test', '--local-ts', '10.99.1.0/24', '--remote-ts', '10.99.2.0/24', '--timeout', '20s', ...common,
        ...(decrypt ? ['--export-keys', join(dir, 'keys')] : []),
      ], { allowFail: true, timeoutMs: 30_000 });
      assert.equal(init.code, 0, `initiator failed:\n${init.stdout}\n${init.stderr}\nresponder:\n${responder.output()}`);
      await responder.exited;
      const result = await cap.stop({ minPackets: 6 });
      const d = await dissect(result.pcapPath);
      assertNoMalformed(d.text);
      assert.match(d.text, /Exchange type: IKE_SA_INIT \(34\)/);
      assert.match(d.text, /Exchange type: IKE_AUTH \(35\)/);
      assert.match(d.text, /Exchange type: (Unknown|IKE_INTERMEDIATE) \(43\)/);
      if (expectFragments) assert.match(d.text, /Encrypted and Authenticated Fragment/);
      if (decrypt) {
        // The first key line is the IKE_SA_INIT key stage, which protects the (only)
        // IKE_INTERMEDIATE exchange (RFC 9370 §2.2.2): with it tshark decrypts each SKF fragment,
        // checks its ICV and reassembles the ML-KEM-1024 KE payload (RFC 7383 §2.6).
        const [stage0] = readFileSync(join(dir, 'keys'), 'utf8').trim().split('\n');
        assert.ok(stage0);
        // Wireshark holds one key set per SPI pair, so IKE_AUTH (next key stage) would be
        // decrypted with the wrong keys: look at the IKE_INTERMEDIATE frames only.
        const dd = await dissect(result.pcapPath, { extraArgs: ['-o', `uat:ikev2_decryption_table:${stage0}`], displayFilter: 'isakmp.exchangetype == 43' });
        assertNoMalformed(dd.text);
        assert.match(dd.text, /Integrity Checksum Data: [0-9a-f]+ \(16 bytes\)\[correct\]/);
        const reassembled = dd.text.match(/\[Reassembled ISAKMP length: (\d+)\]/g) ?? [];
        assert.equal(reassembled.length, 2, 'request and response of IKE_INTERMEDIATE reassembled');
        // KE payload: 8 bytes of header + 1568 (ML-KEM-1024 encapsulation key / ciphertext).
        assert.equal((dd.text.match(/Payload length: 1576\n\s+DH Group #: Unknown \(37\)/g) ?? []).length, 2);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('tshark dissects a pqike x25519+mlkem768 exchange without malformed packets', { skip: skip ?? false }, async () => {
  await hybridCapture('aes256gcm16-prfsha384-x25519-ke1_mlkem768', false);
});

test('tshark decrypts with our exported keys and reassembles our 1280-byte SKF fragments of an ML-KEM-1024 IKE_INTERMEDIATE', { skip: skip ?? false }, async () => {
  await hybridCapture('aes256gcm16-prfsha384-x25519-ke1_mlkem1024', true, true);
});

test('tshark dissects a fragmented pqike x25519+mlkem768+mlkem1024 exchange (1280-byte fragments)', { skip: skip ?? false }, async () => {
  await hybridCapture('aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024', true);
});
