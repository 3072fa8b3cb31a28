#!/usr/bin/env python3
"""Checks libs/protocol/exchange/test-vectors/v1.json against libsodium (PyNaCl) and, with flatc, the
official FlatBuffers Python runtime. npm test runs it (tools/protocol/test-vectors.int.spec.ts) with
--require-flatc; it needs Debian's python3-nacl, python3-flatbuffers and flatbuffers-compiler.

    apt-get install -y python3-nacl python3-flatbuffers flatbuffers-compiler
    /usr/bin/python3 tools/protocol/check-test-vectors.py [--require-flatc] [--vectors FILE]

--require-flatc fails instead of skipping the FlatBuffers checks when flatc is missing; --vectors
checks another file (the spec uses it to prove a tampered vector fails).
"""
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

from nacl import bindings as sodium

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
args = sys.argv[1:]
REQUIRE_FLATC = "--require-flatc" in args
VECTORS = args[args.index("--vectors") + 1] if "--vectors" in args else os.path.join(ROOT, "libs/protocol/exchange/test-vectors/v1.json")
SCHEMA = os.path.join(ROOT, "libs/protocol/wire/schema/license.fbs")

failures = []


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def h(text):
    return bytes.fromhex(text)


v = json.load(open(VECTORS))
keys = v["keys"]
gw_sk, gw_pk = h(keys["gateway_box"]["secret_key"]), h(keys["gateway_box"]["public_key"])
srv_sk, srv_pk = h(keys["server_box"]["secret_key"]), h(keys["server_box"]["public_key"])
sign_seed, sign_pk = h(keys["server_sign"]["seed"]), h(keys["server_sign"]["public_key"])

# Keys and key ids.
check("gateway box public key = crypto_scalarmult_base(secret key)", sodium.crypto_scalarmult_base(gw_sk) == gw_pk)
check("server box public key = crypto_scalarmult_base(secret key)", sodium.crypto_scalarmult_base(srv_sk) == srv_pk)
pk, sk = sodium.crypto_sign_seed_keypair(sign_seed)
check("server sign key pair = crypto_sign_seed_keypair(seed)", pk == sign_pk and sk == h(keys["server_sign"]["secret_key"]))
for name in ("server_box", "server_sign"):
    check(f"{name} key id = first 8 bytes of SHA-256(public key)", hashlib.sha256(h(keys[name]["public_key"])).hexdigest()[:16] == keys[name]["key_id"])
shared = h(keys["shared_key"])
check("shared key = crypto_box_beforenm (gateway side)", sodium.crypto_box_beforenm(srv_pk, gw_sk) == shared)
check("shared key = crypto_box_beforenm (server side)", sodium.crypto_box_beforenm(gw_pk, srv_sk) == shared)

# Config hashes.
for case in v["config_hashes"]:
    logins = sorted({login.encode("utf-8") for login in case["logins"]})
    data = case["package_name"].encode("utf-8") + b"".join(b"\x00" + login for login in logins)
    check(f"config hash {case['package_name']} {case['logins']}", hashlib.sha256(data).hexdigest() == case["hash"])

# Request: crypto_box_easy(request bytes, nonce, server pk, gateway sk) and its opening.
req = v["request"]
sealed = req["sealed"]
box = sodium.crypto_box(h(req["bytes"]), h(sealed["nonce"]), srv_pk, gw_sk)  # PyNaCl returns MAC || ciphertext, as crypto_box_easy
check("request box = crypto_box_easy(request, nonce, server pk, gateway sk)", box == h(sealed["box"]))
check("server opens the request box", sodium.crypto_box_open(h(sealed["box"]), h(sealed["nonce"]), gw_pk, srv_sk) == h(req["bytes"]))
check("request Sealed.public_key is the gateway key", h(sealed["public_key"]) == gw_pk)

# Token: Ed25519 over context || token, then sealed from server to gateway.
tok = v["token"]
message = v["token_signature_context"].encode("ascii") + h(tok["bytes"])
check("signed message = ASCII context || token bytes", message == h(tok["signed_message"]))
check("signature = crypto_sign_detached(message, server sign key)", sodium.crypto_sign(message, sk)[:64] == h(tok["signature"]))
try:
    sodium.crypto_sign_open(h(tok["signature"]) + message, sign_pk)
    check("crypto_sign_verify_detached accepts the signature", True)
except Exception:
    check("crypto_sign_verify_detached accepts the signature", False)
rs = tok["sealed"]
opened = sodium.crypto_box_open(h(rs["box"]), h(rs["nonce"]), srv_pk, gw_sk)
check("gateway opens the response box and finds the SignedToken", opened == h(tok["signed_token"]))
check("response Sealed.public_key is the server box key", h(rs["public_key"]) == srv_pk)

# Release: the request sealed like a LicenseRequest, the answer sealed like a token (not signed).
rel = v["release"]
rq, ra = rel["request"], rel["answer"]
check("release box = crypto_box_easy(release request, nonce, server pk, gateway sk)", sodium.crypto_box(h(rq["bytes"]), h(rq["sealed"]["nonce"]), srv_pk, gw_sk) == h(rq["sealed"]["box"]))
check("server opens the release box", sodium.crypto_box_open(h(rq["sealed"]["box"]), h(rq["sealed"]["nonce"]), gw_pk, srv_sk) == h(rq["bytes"]))
check("release request Sealed.public_key is the gateway key", h(rq["sealed"]["public_key"]) == gw_pk)
check("release answer box = crypto_box_easy(answer, nonce, gateway pk, server sk)", sodium.crypto_box(h(ra["bytes"]), h(ra["sealed"]["nonce"]), gw_pk, srv_sk) == h(ra["sealed"]["box"]))
check("gateway opens the release answer box", sodium.crypto_box_open(h(ra["sealed"]["box"]), h(ra["sealed"]["nonce"]), srv_pk, gw_sk) == h(ra["bytes"]))
check("release answer echoes the release nonce and config hash", ra["fields"]["nonce"] == rq["fields"]["nonce"] and ra["fields"]["config_hash"] == rq["fields"]["config_hash"])

# FlatBuffers with the official Python runtime and flatc-generated Python code.
flatc = shutil.which(os.environ.get("FLATC", "flatc"))
if flatc is None and REQUIRE_FLATC:
    check("flatc found (apt-get install -y flatbuffers-compiler, or set FLATC)", False)
elif flatc is None:
    print("skip FlatBuffers checks: flatc not found")
else:
    out = tempfile.mkdtemp()
    subprocess.run([flatc, "--python", "-o", out, SCHEMA], check=True)
    sys.path.insert(0, out)
    ns = "license_ledger.protocol.v1."
    Sealed = importlib.import_module(ns + "Sealed").Sealed
    SignedToken = importlib.import_module(ns + "SignedToken").SignedToken
    AccessToken = importlib.import_module(ns + "AccessToken").AccessToken
    LicenseRequest = importlib.import_module(ns + "LicenseRequest").LicenseRequest

    def vec(t, name):
        return bytes(getattr(t, name)(i) for i in range(getattr(t, name + "Length")()))

    def camel(n):
        return "".join(p[:1].upper() + p[1:] for p in n.split("_"))

    for label, s in (("request", sealed), ("response", rs)):
        t = Sealed.GetRootAs(h(s["bytes"]), 0)
        check(f"{label} Sealed decodes", vec(t, "PublicKey") == h(s["public_key"]) and vec(t, "Nonce") == h(s["nonce"]) and vec(t, "Box") == h(s["box"]))

    r = LicenseRequest.GetRootAs(h(req["bytes"]), 0)
    fields = req["fields"]
    bad = []
    for name in req["field_order"]:
        expected = fields[name]
        getter = camel(name)
        if name in ("nonce", "config_hash"):
            got = vec(r, getter).hex()
        elif name in ("cpuid", "cpu_affinity"):
            got = [getattr(r, getter)(i) for i in range(getattr(r, getter + "Length")())]
        else:
            got = getattr(r, getter)()
            if isinstance(got, bytes):
                got = got.decode("utf-8")
            elif isinstance(got, bool):
                pass
            elif isinstance(got, int):
                got = str(got)
        if got != expected:
            bad.append(f"{name}: {got!r} != {expected!r}")
    check(f"LicenseRequest decodes all {len(req['field_order'])} fields" + (": " + "; ".join(bad) if bad else ""), not bad)

    def decodes_all(table, vector):
        t = table.GetRootAs(h(vector["bytes"]), 0)
        bad = []
        for name in vector["field_order"]:
            expected = vector["fields"][name]
            getter = camel(name)
            if name in ("nonce", "config_hash"):
                got = vec(t, getter).hex()
            else:
                got = getattr(t, getter)()
                if isinstance(got, bytes):
                    got = got.decode("utf-8")
                elif isinstance(got, int) and not isinstance(got, bool):
                    got = str(got)
            if got != expected:
                bad.append(f"{name}: {got!r} != {expected!r}")
        return bad

    ReleaseRequest = importlib.import_module(ns + "ReleaseRequest").ReleaseRequest
    ReleaseAnswer = importlib.import_module(ns + "ReleaseAnswer").ReleaseAnswer
    for label, table, vector in (("ReleaseRequest", ReleaseRequest, rq), ("ReleaseAnswer", ReleaseAnswer, ra)):
        t = Sealed.GetRootAs(h(vector["sealed"]["bytes"]), 0)
        check(f"{label} Sealed decodes", vec(t, "PublicKey") == h(vector["sealed"]["public_key"]) and vec(t, "Nonce") == h(vector["sealed"]["nonce"]) and vec(t, "Box") == h(vector["sealed"]["box"]))
        bad = decodes_all(table, vector)
        check(f"{label} decodes all {len(vector['field_order'])} fields" + (": " + "; ".join(bad) if bad else ""), not bad)

    st = SignedToken.GetRootAs(opened, 0)
    check("SignedToken decodes: token, signature, key id", vec(st, "Token") == h(tok["bytes"]) and vec(st, "Signature") == h(tok["signature"]) and st.KeyId().decode() == tok["key_id"])
    at = AccessToken.GetRootAs(h(tok["bytes"]), 0)
    tf = tok["fields"]
    check(
        "AccessToken decodes",
        at.TokenId().decode() == tf["token_id"]
        and at.AgreementId().decode() == tf["agreement_id"]
        and vec(at, "GatewayPublicKey") == gw_pk
        and vec(at, "ConfigHash").hex() == tf["config_hash"]
        and at.PackageName().decode() == tf["package_name"]
        and str(at.IssuedTimeUtc()) == tf["issued_time_utc"]
        and str(at.ExpiryTimeUtc()) == tf["expiry_time_utc"]
        and vec(at, "Nonce").hex() == tf["nonce"]
        and str(at.RenewTimeUtc()) == tf["renew_time_utc"],
    )
    shutil.rmtree(out)

print(f"{len(failures)} failed" if failures else "all test vectors check out against libsodium")
sys.exit(1 if failures else 0)
