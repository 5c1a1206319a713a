"""The options table: every row works the same from every source, and a bad value is one line.

The tests are generated from the table itself (`OPTIONS`), so a new row is covered the
moment it is added: the CLI flag, the environment variable, the pyproject key and the
pytest option and ini key of each row must set it, and a bad value from each of them
must be refused with a line naming where it came from.
"""

import json
import math

import pytest
from click.testing import CliRunner

from migma_contract import CheckOptions, ConfigError
from migma_contract.cli import main
from migma_contract.config.options import OPTIONS, Option, resolve_options
from migma_contract.contract.levels import Level

pytest_plugins = ["pytester"]

SECRET = "mc_live_0123456789abcdef"


def sample(option: Option) -> tuple[str, object]:
    """A value other than the default, as text (what a flag or env var carries) and as parsed."""
    if option.kind == "bool":
        return ("false", False) if option.default else ("true", True)
    if option.kind == "int":
        value = int(option.low or 0) + 7
        return str(value), value
    if option.kind == "float":
        return "2.5", 2.5
    if option.kind == "choice":
        return option.choices[-1], option.choices[-1]
    if option.kind == "level":  # parsed once, into the Level it names
        return option.choices[-1], Level(option.choices[-1])
    if option.kind == "list":
        values = option.choices[:2] if option.choices else ("ses", "resend")
        return ",".join(values), tuple(values)
    if option.kind == "url":
        return "http://127.0.0.1:4010", "http://127.0.0.1:4010"
    if option.kind == "domain":
        return "mail.test", "mail.test"
    if option.secret:
        return SECRET + option.name, SECRET + option.name
    return f"value-{option.flag}", f"value-{option.flag}"


BAD = {"bool": "maybe", "int": "seven", "float": "nan", "choice": "loose", "level": "lax", "url": "ftp://example.test", "domain": "a@b"}


def bad(option: Option) -> str | None:
    if option.secret:
        return SECRET + "\r\nX-Injected: 1"
    if option.kind == "list" and option.choices:
        return "pdf"
    return BAD.get(option.kind)


def from_file(expected, option: Option, folder):
    """A value as a repository file's sets it: a path resolved against the file's folder (Pass R3, F5), else as given."""
    return str((folder / expected).resolve()) if option.kind == "path" else expected


def needs_key(option: Option) -> dict[str, str]:
    """A base URL needs a key: give one from the environment when the row under test sets the URL."""
    return {"MIGMA_CONTRACT_API_KEY": "k_test"} if option.kind == "url" else {}


@pytest.fixture
def no_pyproject(tmp_path):
    return tmp_path / "none.toml"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_each_row_is_set_by_its_flag_its_env_var_and_its_pyproject_key(option, tmp_path, no_pyproject):
    text, expected = sample(option)
    from_flag = resolve_options({option.name: text}, environ=needs_key(option), pyproject=no_pyproject)
    from_env = resolve_options({}, environ={option.env: text, **needs_key(option)}, pyproject=no_pyproject)
    assert getattr(from_flag, option.name) == expected
    assert getattr(from_env, option.name) == expected
    if option.secret:
        path = tmp_path / "pyproject.toml"
        path.write_text(f'[tool.migma-contract]\n{option.flag} = "{text}"\n')
        with pytest.raises(ConfigError, match=f"keep keys out of files; set {option.env}"):
            resolve_options({}, environ={}, pyproject=path)
        return
    path = tmp_path / "pyproject.toml"
    toml_value = json.dumps(list(expected) if isinstance(expected, tuple) else expected)
    path.write_text(f"[tool.migma-contract]\n{option.flag} = {toml_value}\n")
    assert getattr(resolve_options({}, environ=needs_key(option), pyproject=path), option.name) == from_file(expected, option, tmp_path)


@pytest.mark.parametrize("option", [o for o in OPTIONS if not o.secret and o.kind != "url"], ids=lambda o: o.name)
def test_precedence_is_flag_then_env_then_pyproject_then_default(option, tmp_path):
    text, expected = sample(option)
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.migma-contract]\n{option.flag} = {json.dumps(text)}\n')
    assert getattr(resolve_options({}, environ={}, pyproject=tmp_path / "none.toml"), option.name) == option.default
    if option.kind == "bool":  # a flag only ever sets the non-default value: env beats the file
        assert getattr(resolve_options({}, environ={option.env: str(option.default)}, pyproject=path), option.name) == option.default
        return
    assert getattr(resolve_options({}, environ={}, pyproject=path), option.name) == from_file(expected, option, tmp_path)
    other = option.default if option.default not in (None, ()) else None
    if other is not None:
        other_text = ",".join(other) if isinstance(other, tuple) else str(other)
        assert getattr(resolve_options({}, environ={option.env: other_text}, pyproject=path), option.name) == other
        assert getattr(resolve_options({option.name: text}, environ={option.env: other_text}, pyproject=path), option.name) == expected


@pytest.mark.parametrize("option", [o for o in OPTIONS if bad(o) is not None], ids=lambda o: o.name)
def test_a_bad_value_from_any_source_is_one_line_naming_the_source_and_never_the_key(option, tmp_path, no_pyproject):
    value = bad(option)
    sources = [
        (lambda: resolve_options({option.name: value}, environ={}, pyproject=no_pyproject), option.flag_name),
        (lambda: resolve_options({}, environ={option.env: value}, pyproject=no_pyproject), option.env),
        (lambda: resolve_options({option.name: value}, environ={}, pyproject=no_pyproject,
                                 given_label=lambda o: o.pytest_flag), option.pytest_flag),
    ]
    if not option.secret:
        path = tmp_path / "pyproject.toml"
        path.write_text(f"[tool.migma-contract]\n{option.flag} = {json.dumps(value)}\n")
        sources.append((lambda: resolve_options({}, environ={}, pyproject=path), f"[tool.migma-contract] {option.flag}"))
    for resolve, where in sources:
        with pytest.raises(ConfigError) as caught:
            resolve()
        message = str(caught.value)
        assert where in message and "\n" not in message and SECRET not in message, message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("name", [o.name for o in OPTIONS if o.kind == "float"])
def test_no_float_option_takes_nan_or_infinity(name, value, tmp_path):
    with pytest.raises(ConfigError, match="finite number"):
        resolve_options({name: value}, environ={}, pyproject=tmp_path / "none.toml")
    assert all(math.isfinite(getattr(CheckOptions(), o.name) or 0) for o in OPTIONS if o.kind == "float")


def test_wrong_types_in_pyproject_are_exit_2_not_internal_errors(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nmax-requests = "lots"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--dry-run"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"migma-contract: error: {tmp_path / 'pyproject.toml'}: [tool.migma-contract] max-requests: expected a whole number, not 'lots'"
    )


def test_every_row_is_a_flag_of_check_and_reaches_the_run(monkeypatch, tmp_path):
    """The CLI is generated from the table: every row's flag parses into the options a run gets."""
    import migma_contract.run.runner as runner

    captured = {}

    def fake_prepare(options, **kwargs):
        captured["options"] = options
        raise SystemExit(0)

    monkeypatch.setattr(runner, "prepare_run", fake_prepare)
    monkeypatch.chdir(tmp_path)
    args, expected = ["check", "--dry-run"], {}
    for option in OPTIONS:
        text, value = sample(option)
        if option.kind == "bool":
            args.append(f"--{option.negate}" if option.negate else option.flag_name)
        else:
            args += [option.flag_name, text]
        expected[option.name] = value
    result = CliRunner().invoke(main, args, env={o.env: None for o in OPTIONS})
    assert result.exit_code == 0, result.output
    assert {name: getattr(captured["options"], name) for name in expected} == expected


def test_the_vendor_variables_are_never_picked_up_silently(tmp_path):
    warnings = []
    options = resolve_options({}, environ={"MIGMA_API_KEY": SECRET, "MIGMA_BASE_URL": "https://api.migma.ai"},
                              pyproject=tmp_path / "none.toml", warn=warnings.append)
    assert options.api_key is None and options.base_url is None
    assert warnings and all("MIGMA_CONTRACT_" in w and SECRET not in w for w in warnings)


@pytest.mark.e2e
def test_the_pytest_plugin_reads_every_row_from_its_flags_and_ini(pytester):
    flags, ini, expected = [], [], {}
    for option in OPTIONS:
        text, value = sample(option)
        expected[option.name] = list(value) if isinstance(value, tuple) else value
        if option.kind == "bool":
            flags.append(option.pytest_flag)
        else:
            flags += [option.pytest_flag, text] if option.kind != "url" else []
        if option.ini_key and option.kind != "url":
            ini.append(f"{option.ini_key} = {text}")
    pytester.makeini("[pytest]\n" + "\n".join(ini) + "\n")
    paths = sorted(option.name for option in OPTIONS if option.kind == "path")
    pytester.makepyfile(test_it=f"""
        import json
        from migma_contract.pytest_plugin import plugin_options

        def test_options(pytestconfig):
            options = plugin_options(pytestconfig)
            expected = json.loads({json.dumps(json.dumps(expected))})
            for name, value in expected.items():
                if name in ("base_url",):
                    continue
                got = getattr(options, name)
                if name in {paths!r} and not pytestconfig.getoption("migma_" + name):  # from the ini: resolved there
                    value = str((pytestconfig.inipath.parent / value).resolve())
                assert (list(got) if isinstance(got, tuple) else got) == value, name
    """)
    for args in (flags, []):
        if not args:  # ini alone: the secrets are not read from files, so drop them from expectations
            pytester.makepyfile(test_it=pytester.path.joinpath("test_it.py").read_text().replace(
                'if name in ("base_url",):', f'if name in ("base_url", {", ".join(repr(o.name) for o in OPTIONS if o.secret)}):'))
        result = pytester.runpytest_inprocess(*args, "-p", "no:cacheprovider")
        assert result.ret == 0, result.stdout.str()


def test_the_fixture_map_names_the_options_of_the_table():
    from migma_contract.generate.bodies import FIXTURE_FIELDS

    by_name = {o.name: o for o in OPTIONS}
    for fixture in FIXTURE_FIELDS:
        assert by_name[fixture.attribute].flag_name == fixture.option
        assert by_name[fixture.attribute].group == "fixtures"


def test_a_key_put_in_the_wrong_variable_is_not_echoed_whole(tmp_path):
    for name in ("MIGMA_CONTRACT_LEVEL", "MIGMA_CONTRACT_MAX_REQUESTS", "MIGMA_CONTRACT_EXPLORE", "MIGMA_CONTRACT_FORMAT"):
        with pytest.raises(ConfigError) as caught:
            resolve_options({}, environ={name: SECRET}, pyproject=tmp_path / "none.toml")
        assert SECRET not in str(caught.value) and SECRET[:16] not in str(caught.value), str(caught.value)


def test_huge_response_headers_are_cut_in_findings():
    from migma_contract.core.redact import Redactor
    from migma_contract.run.records import HEADER_EXCERPT, make_records
    from migma_contract.wire.client import Exchange

    class _Case:
        id, label, body, rule_id = "c", "c", {}, "x"

    exchange = Exchange(_Case(), "POST", "http://127.0.0.1/v1/sending", {"Content-Type": "application/json"}, b"{}",
                        status=200, headers={"x-big": "y" * 60_000})
    _, response = make_records(exchange, Redactor([]), {}, None)
    assert len(response.headers["x-big"]) < HEADER_EXCERPT + 40 and "60000 characters" in response.headers["x-big"]


def test_the_toolkits_hints_name_each_flag_as_pytest_spells_it():
    from migma_contract.config.options import PYTEST_SPELLINGS
    from migma_contract.core.flags import flag, spelled

    for option in OPTIONS:
        cli = f"--{option.negate}" if option.negate else option.flag_name
        assert flag(cli) == cli
        with spelled(PYTEST_SPELLINGS):
            assert flag(cli) == option.pytest_flag
        assert flag(cli) == cli  # only within the block
    with spelled(PYTEST_SPELLINGS):
        assert flag("--explore") == "--explore"  # a flag pytest does not have is left as it is


def test_the_level_is_parsed_once_into_a_level():
    from migma_contract import CheckOptions

    assert CheckOptions().level is Level.DOCUMENTED
    assert CheckOptions(level="strict").level is Level.STRICT  # built in Python with text: made a Level at once
    assert resolve_options(environ={"MIGMA_CONTRACT_LEVEL": "schema"}).level is Level.SCHEMA


# --- pass T1: every URL the user gives is read once (wire.urls.check_url), before anything is sent ---------------------

_LONG_LABEL = "a" * 64
_UNUSABLE_URLS = [
    "http://a..b:1/", f"http://{_LONG_LABEL}:1/", f"http://{_LONG_LABEL}.example.com/", "http://.a/", "http://a../",
    "http://" + ".".join(["abcdefghij"] * 24) + "/", "http://ho st/", "http://%61.com/", "http://\U0001f600.com/",
    "http://[::1]x:1/", "http://[::1]x/", "http://user:pw@[::1]x:1/", "http://x[::1]/", "http://[v1.x]/",
]


@pytest.mark.parametrize("url", _UNUSABLE_URLS)
def test_pass_t1_f3_f6_a_url_no_request_can_reach_as_written_is_a_usage_error(url):
    """Pass T1, F3, F6: a host the IDNA codec refuses (an empty label, one over 63 characters) crashed the proxy
    ("internal error (UnicodeError ...)", exit 3) and made `check` report NOT CONFORMANT; `http://[::1]x:1/` was taken
    for [::1]:1, the text after `]` dropped. Every URL a user gives goes through one reading: a usage error."""
    from migma_contract.wire.urls import check_url

    with pytest.raises(ConfigError, match=r"--base-url: not a usable URL \(") as raised:
        check_url(url, "--base-url")
    assert "pw" not in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:4010", "http://localhost/", "http://[::1]:8080/v1", "http://[fe80::1%25eth0]:1/", "https://a_b:1/",
    "http://xn--9ca.com/", "http://\u00e9.com/", "http://a.b./", "https://user:p%40ss@staging.example.com/api",
    f"http://{'a' * 63}.example.com/",
])
def test_pass_t1_f3_a_url_a_request_can_reach_is_taken(url):
    from migma_contract.wire.urls import check_url

    check_url(url, "--base-url")  # (no exception)


@pytest.mark.parametrize("command", [["proxy", "--upstream"], ["check", "--api-key", "k123456789", "--base-url"]])
@pytest.mark.parametrize("url", ["http://a..b:1/", f"http://{_LONG_LABEL}:1/", "http://[::1]x:1/"])
def test_pass_t1_f3_f6_proxy_and_check_refuse_such_a_url_exit_2_before_sending(tmp_path, command, url):
    """Pass T1, F3, F6: `proxy --upstream` exited 3 with an internal error (or forwarded to [::1]:1), `check --base-url`
    reported NOT CONFORMANT: both are one line, exit 2, nothing sent."""
    result = CliRunner().invoke(main, [*command, url, "--report-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "not a usable URL" in result.output and result.output.count("\n") == 1
    assert "internal error" not in result.output and not list(tmp_path.iterdir())


def test_pass_t1_f3_a_url_from_a_file_or_the_environment_is_read_alike(monkeypatch):
    """Pass T1, F3: the same reading for a URL from a config file (pyproject's base-url) and from the environment."""
    option = next(o for o in OPTIONS if o.name == "base_url")
    with pytest.raises(ConfigError, match=r"base-url in pyproject\.toml: not a usable URL"):
        option.parse("http://a..b:1/", "base-url in pyproject.toml")
    monkeypatch.setenv("MIGMA_CONTRACT_BASE_URL", "http://[::1]x:1/")
    result = CliRunner().invoke(main, ["check", "--api-key", "k123456789"], catch_exceptions=False)
    assert result.exit_code == 2 and "MIGMA_CONTRACT_BASE_URL: not a usable URL" in result.output, result.output


def test_pass_t1_f3_the_python_api_and_the_plugins_options_read_a_url_alike():
    """Pass T1, F3: `run_check(CheckOptions(base_url=...))` (validated) and the pytest plugin's options
    (`resolve_options`, its ini keys and flags) refuse such a URL as the CLI does."""
    with pytest.raises(ConfigError, match="not a usable URL"):
        CheckOptions(base_url="http://a..b:1/", api_key="k123456789").validate()
    with pytest.raises(ConfigError, match="not a usable URL"):
        resolve_options({"base_url": "http://[::1]x:1/", "api_key": "k123456789"}, environ={})
