"""Pass Z3: a Schemathesis file the user did not name (F1-F3), bodies judged as given (F4, F5), ResponseViolations'
constructor (F6)."""

from __future__ import annotations

import gzip
import socket
import tomllib
import zlib

import pytest

from .test_pass_y3 import _schemathesis_run

# --- F1-F3: a repository's schemathesis.toml is trusted with none but an allow-list -------------------------------

_KEY = "mc_y3_secret_key"  # (the key _schemathesis_run sends)
_HOSTILE = {
    "auth-basic": '[auth.basic]\nusername = "u"\npassword = "p"\n',
    "project-auth": '[[project]]\ntitle = "Migma.ai API (v1)"\n[project.auth.basic]\nusername = "u"\npassword = "p"\n',
    "operation-auth": '[[operations]]\ninclude-path = "/v1/sending"\nauth.basic = { username = "u", password = "p" }\n',
    "operation-authorization": '[[operations]]\ninclude-path = "/v1/sending"\nheaders = { aUtHoRiZaTiOn = "Bearer w" }\n',
    "top-headers": 'headers = { Authorization = "Bearer wrong" }\n',
    "key-placeholder": '[[operations]]\ninclude-path = "/v1/sending"\nheaders = { X-Trace = "${MIGMA_CONTRACT_API_KEY}" }\n',
    "parameter-placeholder": '[parameters]\n"query.x" = "${MIGMA_CONTRACT_API_KEY}"\n',
    "base-url-placeholder": 'base-url = "http://127.0.0.1/${MIGMA_CONTRACT_API_KEY}"\n',
    "report-out": '[reports.har]\nenabled = true\npath = "../escaped.har"\n',
    "report-env": '[reports.junit]\nenabled = true\npath = "${GITHUB_PATH}"\n',
    "report-dir": '[reports]\ndirectory = "/tmp"\n',
    "cache-dir": '[cache]\ndirectory = "/tmp/elsewhere"\n',
    "database": '[generation]\ndatabase = "/tmp/db"\n',
    "warnings-off": "warnings = false\n",
    "fewer-examples": "[generation]\nmax-examples = 1\n",
    "unknown": "some-future-setting = 1\n",
    "checks-expectations": '[checks.status_code_conformance]\nexpected-statuses = ["200"]\n',
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_every_setting_off_the_allow_list_is_refused(name):
    """Pass Z3, F1-F3: `auth` (top level, a project, an operation), an `Authorization` header, a `${...}` placeholder
    anywhere (the key printed in a header no sanitizer knows), report/cache/database paths (written anywhere, $GITHUB_PATH
    included) passed the setting-by-setting refusal; now a file the user did not name holds only allowed settings."""
    from migma_contract.schemathesis_checks import untrusted_settings

    assert untrusted_settings(tomllib.loads(_HOSTILE[name]))


def _listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    return listener


@pytest.mark.e2e  # `schemathesis run` processes against a loopback server
@pytest.mark.parametrize("name", ["auth-basic", "operation-authorization", "key-placeholder", "report-out", "report-env"])
def test_a_real_schemathesis_run_refuses_a_repository_file_off_the_allow_list(tmp_path, monkeypatch, name):
    """Pass Z3, F1-F3: `SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run` in a checkout whose
    schemathesis.toml replaced the user's key (a faulty server exited 0), printed the key from a `${...}` placeholder in
    curl lines, or wrote its reports outside the checkout / to $GITHUB_PATH. Now: one line, exit 2, nothing written."""
    from migma_contract.wire.serve import serve_in_thread

    from .test_pass_x5a import PLAIN, _answering

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").mkdir()
    (checkout / "schemathesis.toml").write_text(_HOSTILE[name])
    github_path = tmp_path / "github_path"
    github_path.write_text("")
    env = {"MIGMA_CONTRACT_API_KEY": _KEY, "GITHUB_PATH": str(github_path)}
    with serve_in_thread(_answering(PLAIN, always=True).app()) as url:
        code, output = _schemathesis_run(checkout, url, {**env, "MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG": ""})
    assert code == 2, output
    [line] = [line for line in output.splitlines() if line.strip()]
    assert line.startswith("migma-contract: error:") and "MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG=1" in line
    assert _KEY not in output
    assert not (tmp_path / "escaped.har").exists() and github_path.read_text() == ""


@pytest.mark.e2e
def test_a_config_file_the_user_names_outside_the_checkout_is_the_users(tmp_path):
    """Pass Z3, F1-F3: `--config-file` naming a file outside the checkout and the working directory (a CI job's
    $RUNNER_TEMP) is the user's own: not refused; the same file inside the checkout is (a repository's)."""
    from migma_contract.wire.serve import serve_in_thread

    from .test_pass_x5a import PLAIN, _answering

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").mkdir()
    own = tmp_path / "runner_temp" / "schemathesis.toml"
    own.parent.mkdir()
    setting = f'[reports.junit]\nenabled = true\npath = "{tmp_path / "junit.xml"}"\n'
    own.write_text(setting)
    (checkout / "inside.toml").write_text(setting)
    with serve_in_thread(_answering(PLAIN, always=True).app()) as url:
        code, output = _schemathesis_run(checkout, url, {"MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG": ""},
                                         "--config-file", str(own))
        assert code == 1 and "migma_result_status_known" in output, output  # the faulty server fails
        assert (tmp_path / "junit.xml").exists()
        code, output = _schemathesis_run(checkout, url, {"MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG": ""},
                                         "--config-file", "inside.toml")
        assert code == 2 and "migma-contract: error:" in output, output


# --- F4, F5: a body is judged as given, never decoded by a guess ---------------------------------------------------

_OK = b'{"success": true, "data": {"id": "msg_1", "status": "queued", "sentCount": 1, "message": "queued"}}'
_CODED = {"content-type": "application/json", "content-encoding": "gzip"}


def test_a_body_gzipped_twice_under_one_label_is_judged_in_part():
    """Pass Z3, F4: requests' `.content` of an answer gzipped twice and labelled gzip once is gzip bytes (no client reads
    JSON there); `as_given` decoded them again and validate_response said `[]`. Now: judged in part, never a pass."""
    from migma_contract import validate_response

    found = validate_response(200, _CODED, gzip.compress(_OK))
    assert found != [] and found and "may still be coded" in (found.unread or "") and not list(found)
    assert validate_response(200, _CODED, _OK) == []  # the body the client read, decoded: judged


def _stored_deflate():
    """A correct answer as raw deflate of stored blocks (level 0) whose header bytes are valid UTF-8."""
    for size in range(0x4020, 0x7F3E):
        text = _OK[:-1] + b" " * (size - len(_OK)) + b"}"
        coder = zlib.compressobj(0, zlib.DEFLATED, -15)
        raw = coder.compress(text) + coder.flush()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return raw, text
    raise AssertionError("no such stream")


def test_a_stored_block_raw_deflate_answer_is_never_blamed():
    """Pass Z3, F5: a level-0 raw deflate answer whose stored-block header is valid UTF-8 was taken as already decoded
    and a correct server blamed (content-type-json: not JSON). Now judged in part; decoded, it passes."""
    from migma_contract import validate_response

    raw, text = _stored_deflate()
    found = validate_response(200, {"content-type": "application/json", "content-encoding": "deflate"}, raw)
    assert not list(found) and "may still be coded" in (found.unread or "")
    assert validate_response(200, {"content-type": "application/json", "content-encoding": "deflate"}, text) == []


@pytest.mark.e2e  # a `schemathesis run` process against a loopback server, then judge over its cassette
def test_a_real_schemathesis_run_and_its_cassette_do_not_pass_a_doubly_gzipped_answer(tmp_path):
    """Pass Z3, F4: a server answering JSON gzipped twice, labelled gzip once: `schemathesis run` with the checks said
    "No issues found" (exit 0), and `judge` over its cassette written with --report-preserve-bytes passed
    content-type-json (Schemathesis stores requests' decoded `.content`, and it was decoded once more). Now the checks
    fail "not judged", and the cassette's answer is not read (its recorder decoded it already: never again)."""
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from migma_contract.traffic.recordings import open_recording

    from .test_pass_x5a import SPEC

    body = gzip.compress(gzip.compress(_OK))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "migma_contract.schemathesis_checks", "NO_COLOR": "1"}
        env.pop("MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG", None)
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", f"http://127.0.0.1:{server.server_address[1]}",
             "-H", "Authorization: Bearer mc_test_full_access", "--max-examples", "3", "--generation-deterministic",
             "--no-color", "--phases", "examples,fuzzing", "--report", "vcr", "--report-dir", str(tmp_path / "vcr"),
             "--report-preserve-bytes", "-c", "migma_content_type_json,migma_success_schema,migma_result_status_known"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    finally:
        server.shutdown()
        thread.join()
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "may still be coded" in output, output
    [cassette] = (tmp_path / "vcr").glob("*.yaml")
    answers = [exchange for exchange in open_recording(cassette).exchanges() if exchange.method == "POST"]
    assert answers and all(e.response_body is None and "may still be coded" in (e.unread or "") for e in answers)


# --- F6 ---------------------------------------------------------------------------------------------------------------


def test_the_constructor_keeps_what_a_result_left_unjudged():
    """Pass Z3, F6: `ResponseViolations(v)` of a result judged in part was empty, falsy and equal to `[]`."""
    from migma_contract import validate_response
    from migma_contract.contract.validators import ResponseViolations

    found = validate_response(200, {"content-type": "application/json"},
                              b'{"success": true, "data": {"id": "a", "status": "queued", "sentCount": 1e999}}')
    assert found.unread is not None
    again = type(found)(found)
    assert again and again != [] and again.unread == found.unread and again.unjudged == found.unjudged
    assert ResponseViolations() == [] and not ResponseViolations([])
