/**
 * The test vectors (libs/protocol/exchange/test-vectors/v1.json) are written by our own code, so
 * comparing them with that code proves little. Here an independent implementation checks them:
 * libsodium through PyNaCl, and FlatBuffers' own Python runtime with flatc-generated code
 * (tools/protocol/check-test-vectors.py). Missing tools fail the suite, never skip it.
 *
 * An integration spec because it needs software beyond Node:
 *   apt-get install -y python3-nacl python3-flatbuffers flatbuffers-compiler
 * TEST_VECTORS_PYTHON picks the interpreter; otherwise Debian's /usr/bin/python3 comes first, since a
 * `python3` on PATH (pyenv, venv) usually lacks the Debian modules.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const workspaceRoot = join(__dirname, '..', '..');
const script = join(__dirname, 'check-test-vectors.py');
const vectorsFile = join(workspaceRoot, 'libs', 'protocol', 'exchange', 'test-vectors', 'v1.json');
const INSTALL = 'apt-get install python3-nacl python3-flatbuffers flatbuffers-compiler';

interface Run {
  readonly code: number | null;
  readonly out: string;
}

function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: workspaceRoot, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, out: `${stdout}${stderr}${error && code === null ? `\n${error.message}` : ''}` });
    });
  });
}

/** The first interpreter that has both modules, or an error naming what each candidate lacks. */
async function findPython(): Promise<string> {
  const chosen = process.env['TEST_VECTORS_PYTHON'];
  const candidates = chosen ? [chosen] : ['/usr/bin/python3', 'python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    const probe = await run(python, ['-c', 'import nacl.bindings, flatbuffers']);
    if (probe.code === 0) return python;
    tried.push(`${python}: ${probe.out.trim().split('\n').pop() ?? 'failed'}`);
  }
  throw new Error(`No Python with PyNaCl and FlatBuffers (${tried.join('; ')}). Install them: ${INSTALL}`);
}

/** flatc for the FlatBuffers half of the check; the script itself would only skip it. */
async function assertFlatc(): Promise<void> {
  const flatc = process.env['FLATC'] ?? 'flatc';
  const version = await run(flatc, ['--version']);
  if (version.code !== 0) throw new Error(`flatc not found (tried "${flatc}"): ${INSTALL}, or set FLATC`);
}

describe('protocol test vectors, checked by libsodium and the FlatBuffers Python runtime', () => {
  let python: string;
  beforeAll(async () => {
    python = await findPython();
    await assertFlatc();
  }, 60_000);

  it('check out, every check run', async () => {
    const result = await run(python, [script, '--require-flatc']);
    expect(result.out).not.toMatch(/^(FAIL|skip)/m);
    expect(result).toMatchObject({ code: 0, out: expect.stringContaining('all test vectors check out against libsodium') });
    // The crypto half and the FlatBuffers half both ran (the script counts them as "ok" lines).
    expect(result.out).toMatch(/^ok {3}signature = crypto_sign_detached/m);
    expect(result.out).toMatch(/^ok {3}LicenseRequest decodes all \d+ fields$/m);
    expect(result.out).toMatch(/^ok {3}server opens the release box$/m);
    expect(result.out).toMatch(/^ok {3}ReleaseRequest decodes all 7 fields$/m);
    expect(result.out).toMatch(/^ok {3}ReleaseAnswer decodes all 5 fields$/m);
    expect(result.out.match(/^ok /gm)?.length ?? 0).toBeGreaterThanOrEqual(20);
  }, 60_000);

  it('fail when a vector is wrong: a forged signature and fields that do not match their bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'test-vectors-'));
    try {
      const vectors = JSON.parse(readFileSync(vectorsFile, 'utf8')) as {
        token: { signature: string };
        request: { fields: Record<string, unknown> };
        release: { answer: { fields: Record<string, unknown> } };
      };
      const signature = vectors.token.signature;
      vectors.token.signature = `${signature.startsWith('00') ? 'ff' : '00'}${signature.slice(2)}`;
      vectors.request.fields['hostname'] = 'not-what-the-bytes-say';
      vectors.release.answer.fields['freed'] = true;
      const forged = join(dir, 'v1.json');
      writeFileSync(forged, JSON.stringify(vectors));

      const result = await run(python, [script, '--require-flatc', '--vectors', forged]);
      expect(result.code).toBe(1);
      expect(result.out.match(/^FAIL .*$/gm)).toEqual([
        'FAIL signature = crypto_sign_detached(message, server sign key)',
        'FAIL crypto_sign_verify_detached accepts the signature',
        "FAIL LicenseRequest decodes all 71 fields: hostname: 'gw-prod-01' != 'not-what-the-bytes-say'",
        'FAIL ReleaseAnswer decodes all 5 fields: freed: False != True',
        'FAIL SignedToken decodes: token, signature, key id',
      ]);
      expect(result.out).toMatch(/^5 failed$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
