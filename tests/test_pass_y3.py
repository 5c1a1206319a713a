"""Pass Y3: the findings of the outside attack pass Y3, each a test that failed before its fix."""

from __future__ import annotations

import pytest

from migma_contract.contract.catalogue import RATE_LIMIT_RETRY_AFTER_ID
from migma_contract.core.exceptions import ConfigError
from migma_contract.run import runner


@pytest.mark.parametrize("newline", ["\n", "\r", "\u2028"])
def test_a_baseline_of_plain_lines_is_held_to_the_node_cap(tmp_path, newline):
    """Pass Y3, F2: a baseline of plain lines had no bound on its entries (12 MB took 36 s and 511 MB): it is held to
    the cap a JSON baseline's nodes are held to, counted before a line is split, whatever line break it uses."""
    path = tmp_path / "baseline.txt"
    path.write_text(("a" + newline) * (runner._BASELINE_NODES + 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"more than 1,000,000 lines"):
        runner.load_baseline(str(path))


def test_a_baseline_of_many_rule_ids_is_checked_in_one_pass(tmp_path, monkeypatch):
    """Pass Y3, F2: a list of strings is told a list of strings without jsonschema per entry (which took ~6 us each)."""
    import jsonschema

    def refuse(*args, **kwargs):
        raise AssertionError("jsonschema consulted for a list of strings")

    monkeypatch.setattr(jsonschema, "Draft202012Validator", refuse)
    path = tmp_path / "baseline.txt"
    path.write_text((RATE_LIMIT_RETRY_AFTER_ID + "\n") * 50_000 + "# a comment\n\n", encoding="utf-8")
    assert runner.load_baseline(str(path)).rules == frozenset({RATE_LIMIT_RETRY_AFTER_ID})


def test_every_option_a_repository_file_may_set_is_classified():
    """Pass Y3, F4: `max-response-bytes` was in no list (a repository's 40 turned a keyed run's exit 1 into 3): every
    option is a secret (never read from files), a row of WEAKENING, or named harmless with why; a new option cannot
    be added unclassified."""
    from migma_contract.config.options import OPTIONS, REPOSITORY_HARMLESS, WEAKENING

    secrets = {option.name for option in OPTIONS if option.secret}
    assert not set(WEAKENING) & set(REPOSITORY_HARMLESS) and not (set(WEAKENING) | set(REPOSITORY_HARMLESS)) & secrets
    assert secrets | set(WEAKENING) | set(REPOSITORY_HARMLESS) == {option.name for option in OPTIONS}
    for name in ("max_response_bytes", "max_findings_per_rule", "max_retry_wait", "format"):
        assert name in WEAKENING


@pytest.mark.parametrize("row, weak, fine", [
    ("max_response_bytes", 40, 1 << 21), ("max_retries", 0, 3), ("max_retry_wait", 1.0, 60.0),
    ("max_findings_per_rule", 1, 9), ("format", ("json",), ("json", "junit", "md", "html")),
])
def test_a_repository_value_that_lowers_what_counts_is_refused(row, weak, fine):
    """Pass Y3, F4: these values from a repository file turned NOT CONFORMANT into INCOMPLETE, or hid findings."""
    from migma_contract.config.options import WEAKENING

    assert WEAKENING[row](weak) and not WEAKENING[row](fine)


# --- F0: a repository's schemathesis.toml on the documented Schemathesis way in ---------------------------------

_HOSTILE_ST = {
    "proxy": 'proxy = "http://127.0.0.1:{proxy}"\n',
    "project-proxy": '[[project]]\ntitle = "x"\nproxy = "http://127.0.0.1:{proxy}"\n',
    "operation-proxy": '[[operations]]\ninclude-path = "/v1/sending"\nproxy = "http://127.0.0.1:{proxy}"\n',
    "check-off": "[checks.migma_result_status_known]\nenabled = false\n",
    "all-checks-off": "[checks]\nenabled = false\n[checks.not_a_server_error]\nenabled = true\n",
    "operation-off": '[[operations]]\ninclude-path = "/v1/sending"\nenabled = false\n',
    "sanitization-off": "[output.sanitization]\nenabled = false\n",
    "sanitization-keys": '[output.sanitization]\nkeys-to-sanitize = ["x-other"]\nsensitive-markers = ["zzz"]\n',
    "tls-off": "tls-verify = false\n",
    "remote-target": 'base-url = "https://collector.example/v1"\n',
    "other-hooks": 'hooks = "json"\n',
}
_HARMLESS_ST = {
    "none": "",
    "more-examples": "[generation]\nmax-examples = 200\n",  # (pass Z3: fewer than Schemathesis' 100 is refused)
    "check-on": "[checks.migma_result_status_known]\nenabled = true\n",
    "loopback-target": 'base-url = "http://127.0.0.1:4010"\n',
    "our-hooks": 'hooks = "migma_contract.schemathesis_checks"\n',
}


@pytest.mark.parametrize("name", sorted(_HOSTILE_ST))
def test_each_untrusted_schemathesis_setting_is_named(name):
    """Pass Y3, F0: every setting of a repository's schemathesis.toml that carries the key elsewhere, prints it, or
    turns a faulty server green is found, wherever the file puts it (top level, a project, an operation)."""
    import tomllib

    from migma_contract.schemathesis_checks import untrusted_settings

    assert untrusted_settings(tomllib.loads(_HOSTILE_ST[name].format(proxy=9)))


@pytest.mark.parametrize("name", sorted(_HARMLESS_ST))
def test_a_harmless_schemathesis_config_is_not_refused(name):
    """Pass Y3, F0: the control: what only changes how much is explored, or keeps the checks on, is left alone."""
    import tomllib

    from migma_contract.schemathesis_checks import untrusted_settings

    assert untrusted_settings(tomllib.loads(_HARMLESS_ST[name])) == []


def _schemathesis_run(cwd, url, env=None, *extra):
    import os
    import subprocess
    import sys

    from .test_pass_x5a import SPEC

    environ = {**os.environ, "SCHEMATHESIS_HOOKS": "migma_contract.schemathesis_checks", "NO_COLOR": "1", **(env or {})}
    environ.pop("MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG", None) if not env else None
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", *extra, "run", str(SPEC), "--url", url, "-H",
         "Authorization: Bearer mc_y3_secret_key", "--phases", "examples,fuzzing", "--max-examples", "3",
         "--generation-deterministic", "-c", "migma_result_status_known", "--no-color"],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=environ,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.e2e  # `schemathesis run` processes against a loopback server, a listener standing for the repository's host
@pytest.mark.parametrize("name", ["proxy", "check-off", "sanitization-off", "all-checks-off", "operation-proxy"])
def test_a_real_schemathesis_run_refuses_a_repository_schemathesis_toml(tmp_path, name):
    """Pass Y3, F0: `SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run ...`, as the docs give it,
    in a checkout holding a hostile schemathesis.toml: its proxy got the key in clear, its `enabled = false` turned a
    faulty server green (exit 0), its sanitization off printed the key. Now: one line, exit 2, nothing sent; trusted
    from the environment, the run goes on; with no file, the faulty server fails."""
    import socket

    from migma_contract.wire.serve import serve_in_thread

    from .test_pass_x5a import PLAIN, _answering

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        (tmp_path / "schemathesis.toml").write_text(_HOSTILE_ST[name].format(proxy=listener.getsockname()[1]))
        with serve_in_thread(_answering(PLAIN, always=True).app()) as url:
            code, output = _schemathesis_run(tmp_path, url)
            assert code == 2, output
            [line] = [line for line in output.splitlines() if line.strip()]
            assert line.startswith("migma-contract: error:") and "MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG=1" in line
            assert "mc_y3_secret_key" not in output
            with pytest.raises(BlockingIOError):
                listener.accept()  # nothing went to the repository's host
            if name in ("check-off", "all-checks-off"):
                trusted, output = _schemathesis_run(tmp_path, url, {"MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG": "1"})
                assert trusted != 2 and "migma-contract: error" not in output, output  # the file trusted: the run goes on
                (tmp_path / "schemathesis.toml").unlink()
                failed, output = _schemathesis_run(tmp_path, url)
                assert failed == 1 and "migma_result_status_known" in output, output
    finally:
        listener.close()


# --- F1: a repeated header field given by a multi-valued mapping ---------------------------------------------------

_ONE_OK = b'{"success": true, "data": {"id": "em_y3", "status": "queued"}}'


def _message(pairs):
    import email.message

    message = email.message.Message()
    for name, value in pairs:
        message[name] = value
    return message


def _werkzeug(pairs):
    from werkzeug.datastructures import Headers

    return Headers(pairs)


def _two_spellings(pairs):
    return {"Content-Type": pairs[0][1], "content-type": pairs[1][1]}


@pytest.mark.parametrize("order", ["html-first", "json-first"])
@pytest.mark.parametrize("make", [list, _message, _werkzeug, _two_spellings],
                         ids=["pairs", "email-message", "werkzeug-headers", "dict-two-spellings"])
def test_a_repeated_content_type_is_flagged_whichever_comes_last(make, order):
    """Pass Y3, F1: a mapping whose items() give Content-Type twice (text/html, then application/json) was read by its
    last value: no violation, where werkzeug itself reads text/html; swapping the order flagged it. Now the values are
    joined in order, as pairs are, and the repeated field is flagged either way."""
    from migma_contract import validate_response
    pairs = [("Content-Type", "text/html"), ("Content-Type", "application/json")]
    found = validate_response(200, make(pairs if order == "html-first" else pairs[::-1]), _ONE_OK)
    assert "content-type-json" in {v.rule_id for v in found}, found


def test_a_single_content_type_from_each_mapping_is_clean():
    """Pass Y3, F1: the control: each mapping with one Content-Type passes."""
    from migma_contract import validate_response

    for make in (list, _message, _werkzeug, dict):
        assert validate_response(200, make([("Content-Type", "application/json")]), _ONE_OK) == []


# --- F3: an answer still in its Content-Encoding -------------------------------------------------------------------

_JSON_CT = {"content-type": "application/json"}


def _deflated(raw):
    import zlib

    return zlib.compress(raw)


@pytest.mark.parametrize(("coding", "encode"), [("gzip", "gzip"), ("deflate", "deflate")])
def test_validate_response_reads_a_body_still_in_its_content_encoding(coding, encode):
    """Pass Y3, F3: a correct answer handed in as sent (gzip bytes under Content-Encoding: gzip) failed content-type-json,
    "the body is not JSON". Pass Y3 decoded it by a guess; pass Z3, F4 (the guess read a body gzipped twice through a
    second layer) judges the body as given: still coded, it is judged in part, never blamed; decoded, it is judged."""
    import gzip

    from migma_contract import validate_response

    coded = gzip.compress(_ONE_OK) if encode == "gzip" else _deflated(_ONE_OK)
    found = validate_response(200, {**_JSON_CT, "content-encoding": coding}, coded)
    assert found and "may still be coded" in (found.unread or "") and not list(found)
    assert validate_response(200, {**_JSON_CT, "content-encoding": coding}, _ONE_OK) == []
    bad = b'{"success": true, "data": {"id": 7, "status": "queued"}}'  # a fault in the decoded body is found
    assert validate_response(200, {**_JSON_CT, "content-encoding": coding}, bad)


@pytest.mark.parametrize(("coding", "body"), [
    ("br", b"\x8b\x05\x80" + bytes(range(128, 200))),
    ("gzip", b"\x1f\x8b\x08\x00broken" + bytes(range(128, 160))),
])
def test_a_body_its_coding_leaves_unread_is_judged_in_part_never_not_json(coding, body):
    """Pass Y3, F3: bytes under a coding that are no JSON (a coding not undone here, bytes not in their coding) are
    judged in part (pass Z3, F4: "it may still be coded"), never "not JSON"."""
    from migma_contract import validate_response

    found = validate_response(200, {**_JSON_CT, "content-encoding": coding}, body)
    assert found and found.unread is not None and "may still be coded" in found.unread
    assert "content-type-json" not in found.unjudged and "content-type-json" not in {v.rule_id for v in found}


def _wsgi_compressing_app(body):
    import gzip

    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers, sent = [("Content-Type", "application/json")], body
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):  # as flask-compress answers
            sent = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", [*headers, ("Content-Length", str(len(sent)))])
        return [sent]

    return app


def test_the_schemathesis_checks_read_a_compressed_wsgi_answer():
    """Pass Y3, F3: Schemathesis' WSGI transport with a requests.Session (which asks for gzip) keeps a compressing app's
    bytes: `migma_content_type_json` failed a correct server ("the body is not JSON"). Pass Z3, F4: the checks cannot
    know the transport, and a guess passed a server gzipping twice; such a body is judged in part: the body checks
    fail "not judged ... may still be coded", none says "not JSON", and the header's rules pass."""
    import requests
    import schemathesis

    import migma_contract.schemathesis_checks as checks

    from .test_pass_x5a import SPEC, VALID

    schema = schemathesis.openapi.from_path(str(SPEC))
    operation = schema["/v1/sending"]["POST"]
    answer = b'{"success": true, "data": {"id": "em_y3_same", "status": "queued"}}'
    case = operation.Case(body={**VALID, "subject": "y3"}, headers={"Authorization": "Bearer k"})
    response = case.call(app=_wsgi_compressing_app(answer), session=requests.Session())
    assert response.content[:2] == b"\x1f\x8b"  # still compressed, as the transport keeps it
    failed = []
    for check in checks.CHECKS:
        try:
            check(None, response, case)
        except AssertionError as exc:
            failed.append(str(exc))
    assert failed and all("not judged" in f and "may still be coded" in f for f in failed), failed
    assert not any("content-type-json" in f for f in failed)


# --- F5: bodies the compiled validator cannot take ----------------------------------------------------------------


def test_a_memoryview_body_reads_as_its_bytes_and_other_objects_are_a_clear_type_error():
    """Pass Y3, F5: a memoryview raw body, a dict with an int key, a set, a str subclass gave the serializer's bare
    ValueError ("Unsupported type"); now a memoryview is its bytes, and the rest a TypeError naming what the body holds."""
    import enum

    from migma_contract import validate_response

    assert validate_response(200, _JSON_CT, memoryview(_ONE_OK)) == validate_response(200, _JSON_CT, _ONE_OK) == []

    class Marked(str):
        pass

    for body, what in [({"success": True, "data": {"id": "em_1", 1: "x"}}, "a key of type int"),
                       ({"success": True, "data": {"id": "em_1", "tags": {1, 2}}}, "a value of type set"),
                       ({"success": True, "data": {"id": Marked("em_1")}}, "a value of type Marked")]:
        with pytest.raises(TypeError, match=rf"^validate_response: body holds {what}, "):
            validate_response(200, _JSON_CT, body)
    status = enum.StrEnum("Status", {"QUEUED": "queued"}).QUEUED  # an enum of str is its value
    assert validate_response(200, _JSON_CT, {"success": True, "data": {"id": "em_1", "status": status}}) == []


# --- F6: ResponseViolations through list operations ---------------------------------------------------------------


def test_judged_in_part_survives_the_operations_that_build_a_new_result():
    """Pass Y3, F6: `r1 + r2`, `r[:]`, `sum(..., [])`, `[] + r`, `r * 2` and `+=` gave a plain list, `[]` and falsy for
    answers judged in part; now each keeps `unread`/`unjudged` (`len()` counts violations only, as documented)."""
    from migma_contract import ResponseViolations, validate_response

    unread = validate_response(200, _JSON_CT, b'{"success": true, "data": {"id": "\\ud800"}}')
    clean = validate_response(200, _JSON_CT, _ONE_OK)
    assert unread and len(unread) == 0
    for combined in (unread + clean, clean + unread, unread[:], sum((clean, unread), []), [] + unread, unread * 2,  # noqa: RUF005, RUF017
                     unread[0:0]):
        assert isinstance(combined, ResponseViolations) and combined and combined != [], combined
        assert combined.unread == unread.unread and combined.unjudged == unread.unjudged
    grown = validate_response(200, {}, b"not json")
    grown += unread
    assert grown.unread == unread.unread and len(grown) == len(validate_response(200, {}, b"not json"))
    assert clean + clean == [] and not (clean + clean) and type(unread[0:0]) is ResponseViolations


@pytest.mark.parametrize("source", ["pyproject", "ini"])
@pytest.mark.parametrize(("line", "key"), [("max-response-bytes = 40", "max-response-bytes"),
                                           ("max-retry-wait = 1", "max-retry-wait"),
                                           ("max-findings-per-rule = 1", "max-findings-per-rule")])
def test_a_repository_body_cap_is_refused_on_a_keyed_run_from_either_file(tmp_path, source, line, key):
    """Pass Y3, F4 (f_max_response_bytes.sh): `max-response-bytes = 40` in pyproject.toml (or `migma_max_response_bytes`
    in pytest's ini) turned a keyed run's NOT CONFORMANT (exit 1) into INCOMPLETE (exit 3); now refused (exit 2), and
    taken with no key, or trusted from the environment."""
    from migma_contract.config.options import _BY_KEY, resolve_options

    keyed = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1", "MIGMA_CONTRACT_BASE_URL": "http://127.0.0.1:9"}
    pyproject = tmp_path / "pyproject.toml"
    ini = None
    if source == "pyproject":
        pyproject.write_text(f"[tool.migma-contract]\n{line}\n")
    else:
        name, value = (part.strip() for part in line.split("=", 1))
        option = _BY_KEY[name.replace("-", "_")]
        pyproject.write_text("")
        ini = lambda wanted: value if wanted.name == option.name else None  # noqa: E731
    with pytest.raises(ConfigError, match=f"may not set --{key}"):
        resolve_options({}, environ=keyed, pyproject=pyproject, ini=ini, ini_folder=tmp_path)
    assert resolve_options({}, environ={}, pyproject=pyproject, ini=ini, ini_folder=tmp_path)
    assert resolve_options({}, environ={**keyed, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}, pyproject=pyproject,
                           ini=ini, ini_folder=tmp_path)
