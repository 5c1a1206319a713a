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
