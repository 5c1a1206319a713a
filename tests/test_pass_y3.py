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
    "more-examples": "[generation]\nmax-examples = 5\n",
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


@pytest.mark.parametrize("order", ["html-first", "json-first"])
@pytest.mark.parametrize("make", [list, _message, _werkzeug, lambda pairs: dict(zip(("Content-Type", "content-type"),
                                                                                       (v for _, v in pairs)))],
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
