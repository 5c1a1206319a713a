"""Bad input to the toolkit: a third party's conformance.json, option values, a baseline file.

Each is one line on stderr and exit 2: never exit 3, never "internal error", never a
traceback, never the key, never the content of a file that is not what was asked for.
"""

import copy
import json
import os

import pytest
from click.testing import CliRunner

from migma_contract.cli import main

KEY = "mc_live_BAD_INPUT_SECRET_0123456789"


def cli(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def one_line_error(done, code=2):
    """The command failed the way bad input must: exit `code`, one line, no traceback."""
    banner = "migma-contract 0"  # `check` says what it checks, then may find a problem before the first request
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith(banner)]
    assert done.exit_code == code, (done.exit_code, done.stdout, done.stderr, done.exception)
    assert len(lines) == 1 and lines[0].startswith("migma-contract: error: "), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr + done.stdout
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """A conformance.json as this version writes it (a short run on the embedded mock)."""
    directory = tmp_path_factory.mktemp("saved")
    done = cli("check", "--report-dir", str(directory), "--plan", "minimal", "--max-requests", "30", "--no-explore", "--format", "json")
    assert done.exit_code == 0, done.output
    return json.loads((directory / "conformance.json").read_text())


def _set(data: dict, path: str, value) -> dict:
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


XSS = "<img src=x onerror=alert(document.domain)>"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("requests_sent", XSS),
        ("rules.0.status", "exploded"),
        ("duration_s", "1.5"),
        ("rules.0.exercised", "9"),
        ("rules", {}),
        ("rules.0", []),
        ("target", []),
        ("findings", {"rule": "x"}),
        ("spec.repairs", "none"),
        ("seed", None),
        ("budget", "big"),
        ("settings.baseline", [1, 2]),
        ("target.unknown", "x"),
        ("format", "migma-contract/99"),
        ("exit_code", 1.5),
    ],
)
def test_a_report_with_wrong_field_types_is_one_line_and_exit_2(tmp_path, saved, path, value):
    bad = tmp_path / "conformance.json"
    bad.write_text(json.dumps(_set(saved, path, value)))
    for formats in ("html,md", "json,junit"):
        one_line_error(cli("report", str(bad), "--format", formats))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.json"]  # nothing rendered


@pytest.mark.e2e
def test_the_stored_xss_file_renders_no_page(tmp_path, saved):
    """The review's file: requests_sent holding markup used to be written raw into index.html."""
    bad = tmp_path / "conformance.json"
    bad.write_text(json.dumps(_set(saved, "requests_sent", XSS)))
    line = one_line_error(cli("report", str(bad), "--format", "html", "--out", str(tmp_path / "out")))
    assert "requests_sent" in line
    assert not (tmp_path / "out" / "index.html").exists()
    other = tmp_path / "other.json"
    other.write_text(json.dumps(saved))
    one_line_error(cli("report", str(other), str(bad), "--out", str(tmp_path / "out")))
    assert not (tmp_path / "out" / "comparison.html").exists()


def _deep(depth: int) -> str:
    return '{"format": "migma-contract/1", "x": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("not-json", "{not json"),
        ("empty", ""),
        ("a-list", "[1, 2, 3]"),
        ("not-utf8", b'{"format": "\xff\xfe"}'),
        ("nested-past-the-stack", _deep(200_000)),
        ("nested-deeper-than-the-format", _deep(900)),
        ("nan", '{"format": "migma-contract/1", "duration_s": NaN}'),
    ],
)
def test_a_file_that_is_not_a_result_is_one_line(tmp_path, name, content):
    path = tmp_path / f"{name}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    one_line_error(cli("report", str(path)))


def test_a_huge_file_is_refused_without_being_read_whole(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(65 << 20)  # sparse: 65 MiB of NUL without writing them
    assert "larger than" in one_line_error(cli("report", str(path)))


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_fifo_or_a_device_is_refused_at_once(tmp_path, special):
    path = tmp_path / "pipe.json"
    if special == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    else:
        path = special
    assert "not a regular file" in one_line_error(cli("report", str(path)))


@pytest.mark.e2e
def test_the_out_directory_must_be_usable(tmp_path, saved):
    good = tmp_path / "conformance.json"
    good.write_text(json.dumps(saved))
    (tmp_path / "a-file").write_text("")
    one_line_error(cli("report", str(good), "--out", str(tmp_path / "a-file")))
    (tmp_path / "out" / "index.html").mkdir(parents=True)
    assert "index.html is a directory" in one_line_error(cli("report", str(good), "--out", str(tmp_path / "out")))


# --- option values: refused where they are read, naming the option, never the key -----------------------


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["--timeout", "nan"], {}, "--timeout"),
        (["--timeout", "inf"], {}, "--timeout"),
        (["--rate", "inf"], {}, "--rate"),
        (["--rate", "nan"], {}, "--rate"),
        (["--max-time", "nan"], {}, "--max-time"),
        (["--max-retry-wait", "-inf"], {}, "--max-retry-wait"),
        ([], {"MIGMA_CONTRACT_TIMEOUT": "nan"}, "MIGMA_CONTRACT_TIMEOUT"),
        (["--base-url", "http://127.0.0.1:9", "--api-key", f"{KEY}\r\nX-Injected: yes"], {}, "--api-key"),
        (["--base-url", "http://127.0.0.1:9", "--api-key", f"{KEY}é"], {}, "--api-key"),
        (["--base-url", "http://127.0.0.1:9"], {"MIGMA_CONTRACT_API_KEY": f"{KEY}\n"}, "MIGMA_CONTRACT_API_KEY"),
        (["--base-url", "http://[::1", "--api-key", KEY], {}, "--base-url"),
        (["--base-url", "http://127.0.0.1:99999", "--api-key", KEY], {}, "--base-url"),
    ],
    ids=["timeout-nan", "timeout-inf", "rate-inf", "rate-nan", "max-time-nan", "retry-wait-minus-inf", "env-nan",
         "key-crlf", "key-non-ascii", "env-key-newline", "ipv6-unclosed", "port-99999"],
)
def test_bad_option_values_are_one_line_naming_the_option(tmp_path, args, env, option):
    done = cli("check", "--report-dir", str(tmp_path), *args, env=env)
    line = one_line_error(done)
    assert option in line
    assert KEY not in done.stdout + done.stderr and not list(tmp_path.iterdir())


def test_a_baseline_that_is_another_file_is_not_echoed(tmp_path):
    secret_file = tmp_path / "passwd"
    secret_file.write_text("root:x:0:0:TOP-SECRET-LINE:/root:/bin/bash\n")
    done = cli("check", "--report-dir", str(tmp_path / "r"), "--baseline", str(secret_file))
    assert "--baseline" in one_line_error(done)
    assert "TOP-SECRET-LINE" not in done.stdout + done.stderr
    assert "--baseline" in one_line_error(cli("check", "--report-dir", str(tmp_path / "r"), "--baseline", "/dev/zero"))
