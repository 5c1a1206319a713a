"""The pytest plugin: the conformance suite as pytest items, and fixtures for API consumers.

Installed with the package (entry point `pytest11`), so every pytest run of an environment
holding the package loads this module: it imports nothing of the toolkit until a hook or
fixture needs it (`python -X importtime -c "import migma_contract.pytest_plugin"`).

`pytest --migma-conformance` adds one test per rule of the selected level, under node ids
pytest can re-run (`pytest migma-contract::auth-scope` selects that rule alone). The check
itself runs once per session, when the tests start (on the xdist controller when there is
one, so a staging server sees each request once: `-n` only spreads the user's other
tests), and each rule's test passes, fails with the finding, or is skipped with the
reason; its duration is the rule's share of the check's time. Without a base URL the
embedded reference mock is checked.

Fixtures (handles documented in `migma_contract.testing`): `migma_mock`,
`migma_mock_server`, `migma_validate`, `migma_target`, `migma_spec`, `migma_rules`.
Settings: command line > environment (MIGMA_CONTRACT_*) > ini > pyproject.toml, the same
options table the CLI reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
from collections.abc import Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from migma_contract.config.options import CheckOptions
    from migma_contract.contract.rules import Rule
    from migma_contract.document.spec import Spec
    from migma_contract.run.result import RunResult
    from migma_contract.testing import MockHandle, ServerHandle, TargetHandle, Validators

SUITE = "migma-contract"  # the suite's node id: `pytest migma-contract::<rule-id>` re-runs one rule
_OPTIONS = pytest.StashKey["CheckOptions"]()
_SELECTED = pytest.StashKey["frozenset[str] | None"]()
_PATH = pytest.StashKey[str]()
_REPORTS = pytest.StashKey[list[str]]()
_HEADLINE = pytest.StashKey[str]()
_RESULT = pytest.StashKey["RunResult"]()
_SHARES = pytest.StashKey[dict[str, float]]()
_DESELECTED = pytest.StashKey[set[str]]()  # the rules -k, -m, --deselect, --lf ... left out of this session
_KEPT = pytest.StashKey[set[str]]()  # xdist's controller: the rules the workers' collection kept (after the check ran)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The conformance switch, and one option (and ini key) per row of the options table."""
    from migma_contract.config.options import OPTIONS, PYTEST_SPELLINGS

    group = parser.getgroup("migma-contract", "contract tests of the Migma.ai send endpoint (POST /v1/sending)")
    group.addoption("--migma-conformance", action="store_true", default=False,
                    help="Collect the conformance suite: one test per rule of the selected level "
                         "(also implied by a node id such as migma-contract::auth-scope).")
    for option in OPTIONS:
        text = f"{option.help_for(PYTEST_SPELLINGS)} [env: {option.env}]"
        if option.kind == "bool":
            group.addoption(option.pytest_flag, dest=f"migma_{option.name}", default=None,
                            action="store_false" if option.negate else "store_true", help=text)
        else:
            group.addoption(option.pytest_flag, dest=f"migma_{option.name}", default=None, metavar=option.kind.upper(),
                            action="append" if option.kind == "list" else "store", help=text)
        if option.ini_key:
            parser.addini(option.ini_key, help=option.help_for(PYTEST_SPELLINGS), default=None)


def plugin_options(config: pytest.Config) -> CheckOptions:
    """The check's options as the CLI would read them: command line > environment > ini > pyproject.toml."""
    if _OPTIONS not in config.stash:
        from migma_contract.config.options import OPTIONS, PYTEST_SPELLINGS, resolve_options
        from migma_contract.core.exceptions import MigmaContractError
        from migma_contract.core.flags import spelled
        from migma_contract.core.untrusted import clean_text

        given = {option.name: config.getoption(f"migma_{option.name}") for option in OPTIONS}
        try:
            with spelled(PYTEST_SPELLINGS):  # its messages name pytest's flags (`pass --migma-base-url yourself`)
                config.stash[_OPTIONS] = resolve_options(
                given,
                    given_by_repository=_from_addopts(config, OPTIONS),
                    ini_by_user=_users_overrides(config, OPTIONS),
                    ini=lambda option: config.getini(option.ini_key) if option.ini_key else None,
                    ini_folder=config.inipath.parent if config.inipath is not None else config.rootpath,
                    pyproject=config.rootpath / "pyproject.toml",
                    given_label=lambda option: option.pytest_flag,
                    warn=lambda message: config.issue_config_time_warning(
                        pytest.PytestConfigWarning(f"migma-contract: {message}"), stacklevel=2),
                )
        except MigmaContractError as exc:
            raise pytest.UsageError(f"migma-contract: {clean_text(exc)}") from None
    return config.stash[_OPTIONS]


def _words(config: pytest.Config) -> list[tuple[str, bool]]:
    """Every word pytest parsed, in its order (`addopts`, $PYTEST_ADDOPTS, the command line), with whether the user
    typed it (`addopts` is a file's); each `@file` still to be replaced by its lines (`_expand_atfiles`)."""
    try:
        from_ini = [str(arg) for arg in config.getini("addopts")]
    except (ValueError, KeyError):
        from_ini = []
    users = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *map(str, config.invocation_params.args)]
    return [(arg, False) for arg in from_ini] + [(arg, True) for arg in users]


def _from_addopts(config: pytest.Config, options: Iterable[Any]) -> dict[str, Path]:
    """The options a repository's file put on the command line and the user did not give last themselves.

    pytest reads `addopts` from pytest.ini, pyproject.toml, tox.ini or setup.cfg, files a pull request may
    change, and its argument parser expands every `@file` argument into that file's lines (in `addopts`, in
    $PYTEST_ADDOPTS, on the command line, and in an `@file` again). What a file put there is held to the guards of
    `[tool.migma-contract]` (no target for the environment's key, no report outside the repository). An option is
    the user's only when the value pytest kept came from a word the user typed themselves (the command line or
    $PYTEST_ADDOPTS, not a line of a file); when the origin cannot be shown (a file that cannot be read again),
    it is the repository's.
    """
    options = list(options)
    mine = _users_flags(_words(config), Path(config.invocation_params.dir),
                        {option.pytest_flag for option in options if option.kind == "list"})
    folder = Path(config.rootpath)
    return {option.name: folder for option in options if option.pytest_flag not in mine}


def _users_overrides(config: pytest.Config, options: Iterable[Any]) -> set[str]:
    """The ini keys of `options` whose `-o key=value` pytest kept (the last one for that key) the user typed: on the
    command line or in $PYTEST_ADDOPTS, not in a file's `addopts` nor an `@file` (then, or when a file cannot be read
    again, the value is the repository's, as an ini file's is)."""
    keys = {option.ini_key for option in options if option.ini_key}
    return _users_override_keys(_words(config), Path(config.invocation_params.dir), keys, _takes(config))


def _takes(config: pytest.Config) -> dict[str, bool]:
    """Each option string of pytest's parser, whether it takes a value: how argparse reads a group of short flags
    (`-qo k=v`, `-qk body`). pytest 9 keeps its argparse parser as `optparser`, pytest 8 builds it in `_getparser`;
    without one, `-o`, `-k` and `-m` alone are known."""
    parser: Any = config._parser
    made = getattr(parser, "optparser", None) or (parser._getparser() if hasattr(parser, "_getparser") else None)
    actions = getattr(made, "_option_string_actions", None) or {
        flag: argparse.Action([flag], flag.strip("-")) for flag in ("-o", "-k", "-m")}
    return {flag: action.nargs != 0 for flag, action in actions.items()}


# pytest's options that choose which items run (or that none do): a file's are not the user's (pass V4, F1)
_SELECTING = ("-k", "-m")
_SELECTING_LONG = ("--deselect", "--co", "--collect-only", "--collectonly", "--lf", "--last-failed", "--lfnf",
                   "--last-failed-no-failures", "--sw", "--stepwise", "--sw-skip", "--stepwise-skip")


# pytest's options that print something and end the session before its tests (pytest's own `pytest_cmdline_main`:
# --fixtures, --fixtures-per-test, --markers, --help, --cache-show): from a file, they ended a `--migma-conformance` run
# with exit 0 and no check (pass X4, F1); typed by the user, they do what pytest does
_INFORMING = ("-h",)
_INFORMING_LONG = ("--help", "--fixtures", "--funcargs", "--fixtures-per-test", "--markers", "--cache-show")
# what the user may type to end a `--migma-conformance` session with pytest's own exit 0 and no check: the options
# above, pytest's version, and collecting only
_USERS_OWN_END = ("-h", "-V")
_USERS_OWN_END_LONG = (*_INFORMING_LONG, "--version", "--co", "--collect-only", "--collectonly")
_UNREADABLE = "an @file that cannot be read again"


def _selection_words(config: pytest.Config) -> tuple[list[str], list[str]]:
    """The words choosing which items run (`_SELECTING`, `_SELECTING_LONG`, a `migma-contract::<rule>` node id): those
    a file put there (`addopts`, an `@file`: when one cannot be read again, it is said so) and those the user typed
    (the command line, $PYTEST_ADDOPTS), in pytest's order."""
    return _flag_words(config, _SELECTING_LONG, _SELECTING, node_ids=True)


def _flag_words(config: pytest.Config, long_flags: Iterable[str], short_flags: Iterable[str],
                node_ids: bool = False) -> tuple[list[str], list[str]]:
    """The words setting one of `long_flags` or `short_flags` (`-qh` sets -h, as argparse reads it), and with
    `node_ids` each `migma-contract::<rule>`: those a file put there (`addopts`, an `@file`: when one cannot be read
    again, it is said so) and those the user typed (the command line, $PYTEST_ADDOPTS), in pytest's order."""
    words = _expand_atfiles(_words(config), Path(config.invocation_params.dir), 0)
    if words is None:
        return [_UNREADABLE], []
    long_flags, short_flags = set(long_flags), set(short_flags)
    takes = _takes(config)
    files: list[str] = []
    users: list[str] = []
    after_dashes = False
    for word, typed in words:
        if word == "--":
            after_dashes = True
            continue
        head = word.split("::")[0].rstrip("/")
        if node_ids and head == SUITE and "::" in word:
            chosen = True
        elif after_dashes or not word.startswith("-") or len(word) < 2:
            chosen = False
        elif word.startswith("--"):
            chosen = word.split("=", 1)[0] in long_flags
        else:
            chosen = bool(_short_flags_in_word(word, takes) & short_flags)
        if chosen:
            (users if typed else files).append(word)
    return files, users


def _short_flags_in_word(word: str, takes: Mapping[str, bool]) -> set[str]:
    """The short flags one word sets as argparse reads it (`-qk` sets -q and -k; `-kq` gives -k the value `q`)."""
    parser = _ShortWordParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for flag, takes_value in takes.items():
        if len(flag) == 2 and flag[0] == "-" and flag[1] != "-":
            parser.add_argument(flag, dest=f"flag_{ord(flag[1])}", default=None,
                                action="store" if takes_value else "store_true")
    try:
        seen, _ = parser.parse_known_args([word, _NEXT_WORD])
    except (_ArgparseRefused, argparse.ArgumentError):
        return set()
    return {f"-{chr(int(dest[5:]))}" for dest, value in vars(seen).items() if value not in (None, False)}


def _users_override_keys(args: list[tuple[str, bool]], cwd: Path, keys: set[str], takes: Mapping[str, bool]) -> set[str]:
    """Of `keys`, those whose last `-o key=value` in `args` ((word, typed) in pytest's order, as `_users_flags` reads
    them) the user typed, flag and value; `takes`: each option string of pytest's parser, whether it takes a value."""
    words = _expand_atfiles(args, cwd, 0)
    if words is None or not keys:
        return set()
    last: dict[str, bool] = {}
    index = 0
    while index < len(words):
        word, typed = words[index]
        index += 1
        if word == "--":  # argparse reads every word after `--` as a path, never as an option
            break
        value: tuple[str, bool] | None = None
        if word == "--override-ini" or word == "-o":
            value = words[index] if index < len(words) else None
            index += 1
        elif word.startswith("--override-ini="):
            value = (word.split("=", 1)[1], typed)
        elif word.startswith("-") and not word.startswith("--") and len(word) > 1:
            given, needs_next = _override_in_short_word(word, takes)
            if given == _NEXT_WORD:
                value = words[index] if index < len(words) else None
            elif given is not None:
                value = (given, typed)
            index += 1 if needs_next else 0
        if value is None:
            continue
        key = value[0].split("=", 1)[0]
        if key in keys:
            last[key] = typed and value[1]
    return {key for key, typed in last.items() if typed}


_NEXT_WORD = "\x00the next word"  # stands for the word after a short flag taking a value, as argparse reads it


class _ArgparseRefused(Exception):
    """argparse would stop the run at this word: no value is taken from it."""


class _ShortWordParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgparseRefused(message)


def _override_in_short_word(word: str, takes: Mapping[str, bool]) -> tuple[str | None, bool]:
    """What this interpreter's argparse gives `-o` from one word of short flags (`-o=k=v`, `-qok=v`, `-qo=k=v`, `-kxo`),
    and whether that word takes the next word as a value (its own or another flag's). argparse's reading of these
    forms differs between Python versions (an `=` kept or eaten), so argparse itself is asked, with pytest's short
    flags: `_NEXT_WORD` as the value means the next word is `-o`'s value."""
    parser = _ShortWordParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for flag, takes_value in takes.items():
        if len(flag) == 2 and flag[0] == "-" and flag[1] != "-":
            dest = f"flag_{ord(flag[1])}"
            if flag == "-o":
                parser.add_argument(flag, dest=dest, action="append")
            else:
                parser.add_argument(flag, dest=dest, action="store" if takes_value else "store_true")
    try:
        seen, _ = parser.parse_known_args([word, _NEXT_WORD])
    except (_ArgparseRefused, argparse.ArgumentError):
        return None, False
    values = vars(seen)
    overrides = values.get(f"flag_{ord('o')}") or []
    needs_next = any(value == _NEXT_WORD or (isinstance(value, list) and _NEXT_WORD in value) for value in values.values())
    return (overrides[-1] if overrides else None), needs_next


_MAX_ATFILE_DEPTH = 16  # argparse follows `@file` inside `@file` without end; past this the origin is unknown


def _users_flags(args: list[tuple[str, bool]], cwd: Path, repeatable: set[str]) -> set[str]:
    """The `--migma-*` flags whose value the user gave: `args` are (word, typed by the user) pairs in pytest's
    order (`addopts`, $PYTEST_ADDOPTS, the command line), each `@file` replaced by its lines as argparse reads
    them. A flag is the user's when the last word that sets it was typed (a `repeatable` flag: when no file's word
    sets it, as each adds to the value); none is when a file cannot be read again (the origin is unknown).
    """
    expanded = _expand_atfiles(args, cwd, 0)
    if expanded is None:
        return set()
    last: dict[str, bool] = {}
    any_file: set[str] = set()
    for word, typed in expanded:
        if word == "--":  # argparse reads every word after `--` as a path, never as an option
            break
        if not word.startswith("--migma-"):
            continue
        flag = word.split("=", 1)[0]
        last[flag] = typed
        if not typed:
            any_file.add(flag)
    return {flag for flag, typed in last.items() if typed} - (any_file & repeatable)


def _expand_atfiles(args: list[tuple[str, bool]], cwd: Path, depth: int) -> list[tuple[str, bool]] | None:
    """`args` with each `@file` replaced by its lines (argparse's fromfile_prefix_chars="@": one word a line, the
    path read from the working directory, recursively); every word of a file is not the user's (typed False)."""
    out: list[tuple[str, bool]] = []
    for word, typed in args:
        if not word.startswith("@"):
            out.append((word, typed))
            continue
        if depth >= _MAX_ATFILE_DEPTH:
            return None
        try:
            text = (cwd / word[1:]).read_bytes().decode("utf-8", errors="surrogateescape")
        except (OSError, ValueError):
            return None
        inner = _expand_atfiles([(line, False) for line in text.splitlines()], cwd, depth + 1)
        if inner is None:
            return None
        out.extend(inner)
    return out


# --- the conformance suite ----------------------------------------------------------------------


def _conformance(config: pytest.Config) -> bool:
    return bool(config.getoption("migma_conformance", False))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.getplugin("dsession") is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "migma_rule(rule_id): a test of the migma-contract conformance suite")
    for level in ("schema", "documented", "strict"):
        config.addinivalue_line("markers", f"migma_{level}: a conformance rule of level {level}")
    config.addinivalue_line(
        "markers", "migma_mock(world=None, faults=None, level=None, assert_all_requests_valid=True, **sections): "
                   "this test's reference mock (migma_mock, migma_mock_server): a world and faults laid over the "
                   "session's, and whether a contract-breaking request fails the test")
    _take_rule_arguments(config)
    if _conformance(config):
        plugin_options(config)  # a bad setting is a usage error before anything runs


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, int | pytest.ExitCode | None, int | pytest.ExitCode | None]:
    """A session asked for the conformance check (`--migma-conformance`, a `migma-contract::<rule>`) ends with exit 0
    only when the check ran to its end and passed, or when the user typed an option that ends pytest before its tests
    (`--help`, `--fixtures`, `--co`...): pytest's own `pytest_cmdline_main` returns 0 for `--fixtures`, `--markers`,
    `--help`, `--cache-show` without reaching the tests, and a repository's `addopts` (or an `@file`) holding one turned
    a faulty server's keyed run green (pass X4, F1). Such an option from a file is refused before pytest acts on it;
    whatever else ends pytest early (another option, a plugin, a conftest's `pytest.exit(returncode=0)`) is exit 3, said
    on stderr. This wrapper sees the status pytest's `main` returns, whichever implementation gave it."""
    asked = _asked(config) and not _is_worker(config)
    if asked:
        _refuse_a_files_information(config)
    status = yield
    if asked and status == pytest.ExitCode.OK and _RESULT not in config.stash and not _users_own_end(config):
        import sys

        from migma_contract.core.untrusted import clean_text

        sys.stderr.write(clean_text("migma-contract: --migma-conformance was asked but the check did not run (pytest "
                                    "ended the session before its tests, by an option from addopts, an @file or a "
                                    "plugin): no verdict, exit 3") + "\n")
        return 3
    return status


def _asked(config: pytest.Config) -> bool:
    """Whether the session asks for the check: `--migma-conformance`, or a `migma-contract[::<rule>]` argument, read
    from the words too: pytest's `-h` stops its parser at once (`--migma-conformance` after it is never set), and
    `_take_rule_arguments` runs at configure, which `-VV` never reaches."""
    if _conformance(config):
        return True
    words = _expand_atfiles(_words(config), Path(config.invocation_params.dir), 0) or []
    return any(word == "--migma-conformance" or word.partition("::")[0].rstrip("/") == SUITE
               for word in [*(word for word, _ in words), *map(str, getattr(config, "args", ()))])


def _users_own_end(config: pytest.Config) -> bool:
    """Whether the user typed an option that ends pytest before its tests (`_USERS_OWN_END`): pytest's exit 0 stands."""
    return bool(_flag_words(config, _USERS_OWN_END_LONG, _USERS_OWN_END)[1])


def _refuse_a_files_information(config: pytest.Config) -> None:
    """An option that ends pytest before its tests (`_INFORMING`: `--fixtures`, `--markers`, `--help`...) that a file put
    on the command line (`addopts`, an `@file`) is not the user's: on a session asked for the check it is a usage
    error, unless the user typed such an option too (pass X4, F1)."""
    from migma_contract.core.untrusted import clean_text

    files, _ = _flag_words(config, _INFORMING_LONG, _INFORMING)
    if not files or files == [_UNREADABLE] or _users_own_end(config):
        return
    raise pytest.UsageError(clean_text(
        f"migma-contract: a repository file's pytest options ({' '.join(files)[:120]}, from addopts or an @file) end "
        "the session before its tests, so the conformance check would never run; remove them from the file, or type "
        "them yourself on the command line"))


def _take_rule_arguments(config: pytest.Config) -> None:
    """`migma-contract` and `migma-contract::<rule-id>` arguments select rules (they are not paths)."""
    kept, selected, whole = [], set(), False
    for arg in config.args:
        head, _, rest = arg.partition("::")
        if head.rstrip("/") == SUITE and not Path(head).exists():
            if rest:
                selected.add(rest.split("::")[0].split("[")[0])
            else:
                whole = True
        else:
            kept.append(arg)
    if selected or whole:
        config.args[:] = kept
        config.option.migma_conformance = True
    config.stash[_SELECTED] = None if whole or not selected else frozenset(selected)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: tell each worker where the check's result will be."""
    config = node.config
    if not _conformance(config):
        return
    if _PATH not in config.stash:
        handle, path = tempfile.mkstemp(prefix="migma-contract-", suffix=".json")
        os.close(handle)
        config.stash[_PATH] = path
    node.workerinput["migma_contract_result"] = config.stash[_PATH]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist, on the controller: the rules a worker's collection kept (its items after -k, -m, --deselect). The workers
    collect after the controller's check ran, so the rules left out are named in the summary only (pass X4, F4)."""
    config = node.config
    if _conformance(config):
        config.stash[_KEPT] = {nodeid.split("::", 1)[1].split("[")[0] for nodeid in ids if nodeid.startswith(SUITE + "::")}


def _left_out_under_xdist(config: pytest.Config, result: RunResult) -> list[str]:
    """The rules of the check the xdist workers' selection left out and the check's own warnings did not name."""
    kept = config.stash.get(_KEPT, None)
    if kept is None or _is_worker(config):
        return []
    named = set(_left_out(config))
    return [rule.id for rule in result.rules if rule.id not in kept and rule.id not in named]


class ContractViolation(AssertionError):
    """A rule of the contract is broken; the message is the finding."""


class RuleItem(pytest.Item):
    """One rule of the catalogue, judged by the session's conformance check."""

    def __init__(self, *, rule: Rule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule
        self.add_marker(pytest.mark.migma_rule(rule.id))
        self.add_marker(getattr(pytest.mark, f"migma_{rule.level.value}"))

    def runtest(self) -> None:
        __tracebackhide__ = True
        from migma_contract.run.result import Status

        result = _result(self.config)
        outcome = result.rule(self.rule.id)
        if outcome is None:
            pytest.skip(f"not checked at level {result.level}")
        if outcome.status == Status.NOT_EXERCISED:
            pytest.skip(f"not exercised: {outcome.reason}")
        if outcome.status == Status.ACCEPTED:
            pytest.skip("known failure accepted by the baseline")
        if outcome.status == Status.FAILED:
            raise ContractViolation(_describe(result, self.rule.id))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ContractViolation):
            return _FindingRepr(self.nodeid, str(excinfo.value))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        return SUITE, 0, f"[{self.rule.level.value}] {self.rule.id}: {self.rule.text}"


class _Crash:
    """What pytest's short summary shows of a failure: the finding's first line only."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.lineno, self.message = path, 0, message


class _FindingRepr:
    """A failed rule's report: the finding, once, and no traceback (there is no code of the user's to show)."""

    def __init__(self, nodeid: str, text: str) -> None:
        self.text = text
        self.reprcrash = _Crash(nodeid, text.splitlines()[0])

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def _describe(result: RunResult, rule_id: str) -> str:
    """Each finding of the rule, once: the rule, its source, the case, what came back, how to reproduce it.

    The result's text was cleaned where it entered; it is cleaned again here, one line per
    field, because this writer is a terminal (no escape sequence reaches it).
    """
    from migma_contract.core.untrusted import clean_text

    outcome = result.rule(rule_id)
    assert outcome is not None
    lines = [f"{rule_id} [{outcome.level}]: {outcome.text}", f"  source:   {outcome.source}",
             f"  failed {outcome.failed} of {outcome.exercised} checks against {result.target.label}"]
    lines += [f"  cause:    {cause.summary}" for cause in result.root_causes if rule_id in cause.rules]
    for finding in result.findings_for(rule_id):
        lines += [f"  case:     {finding.case_label}", f"  expected: {finding.expected}", f"  got:      {finding.actual}"]
        if finding.attribution:
            lines.append(f"  why:      {finding.attribution}")
        lines += [f"  repro:    {finding.request.curl}", f"  response: {finding.response.status} {finding.response.body[:300]}"]
    return "\n".join(clean_text(line).rstrip() for line in lines)


class ConformanceSuite(pytest.Collector):
    """The rules of the selected level (or those named on the command line), as items."""

    def collect(self) -> Iterator[pytest.Item]:
        from migma_contract.contract.catalogue import rules_for

        selected = self.config.stash.get(_SELECTED, None)
        options = plugin_options(self.config)
        rules = rules_for(options.level, options.rule_sets)
        unknown = sorted((selected or set()) - {rule.id for rule in rules})
        if unknown:
            raise pytest.UsageError(f"migma-contract: no rule {unknown[0]!r} at level {plugin_options(self.config).level} "
                                    f"(known: {', '.join(rule.id for rule in rules)})")
        for rule in rules:
            if selected is None or rule.id in selected:
                yield RuleItem.from_parent(self, name=rule.id, rule=rule)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _conformance(config):
        return
    suite = ConformanceSuite.from_parent(session, name=SUITE, nodeid=SUITE)
    collected = list(suite.collect())
    # Reported like any collector's result, so "collected N items" counts the rules.
    config.hook.pytest_collectreport(report=pytest.CollectReport(SUITE, "passed", None, [*collected]))
    for item in collected:
        config.hook.pytest_itemcollected(item=item)
    items.extend(collected)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Note the rules `-k`, `-m`, `--deselect` (or another plugin: `--lf`) leave out of the session."""
    for item in items:
        if isinstance(item, RuleItem):
            item.config.stash.setdefault(_DESELECTED, set()).add(item.rule.id)


def _left_out(config: pytest.Config) -> list[str]:
    """The rules of the run's level this session leaves out: deselected, or not named by a `migma-contract::<rule>`."""
    from migma_contract.contract.catalogue import rules_for

    options = plugin_options(config)
    selected = config.stash.get(_SELECTED, None)
    deselected = config.stash.get(_DESELECTED, set())
    return [rule.id for rule in rules_for(options.level, options.rule_sets)
            if rule.id in deselected or (selected is not None and rule.id not in selected)]


def _refuse_a_files_selection(config: pytest.Config, left_out: list[str], runs: bool) -> None:
    """A selection a file made (`addopts`, an `@file`) is not the user's, as a `--migma-*` flag there is not: on a
    run carrying the user's key to the target they named, one that leaves rules out (or collects only) is a usage
    error, unless the user's own typed selection leaves them out too and the check still runs (pass V4, F1)."""
    from migma_contract.config.options import TRUST_CONFIG_TARGET_ENV, repository_held
    from migma_contract.core.untrusted import clean_text

    if not repository_held(plugin_options(config)):
        return
    files, users = _selection_words(config)
    if not files:
        return
    collect_only = any(word.split("=", 1)[0] in ("--co", "--collect-only", "--collectonly") for word in files)
    if not collect_only and (not left_out or (users and runs)):
        return
    what = "collects only (the check never runs)" if collect_only else (
        f"leaves {len(left_out)} rule(s) out ({', '.join(left_out[:5])}{', …' if len(left_out) > 5 else ''})")
    raise pytest.UsageError(clean_text(
        f"migma-contract: a repository file's pytest options ({' '.join(files)[:120]}, from addopts or an @file) "
        f"{what} on a run carrying your key to the target you named; select rules yourself on the command line, "
        f"or set {TRUST_CONFIG_TARGET_ENV}=1 to trust the file"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Run the check once, after collection and before the first test (none of its own is left to run: skip it)."""
    config = session.config
    if not _conformance(config) or _is_worker(config):
        return
    _refuse_a_files_selection(config, _left_out(config), not config.option.collectonly)
    if config.option.collectonly:
        return
    # run whatever items are left, every rule deselected (-k, -m, --deselect) included, with xdist or without: the
    # session's exit status is the check's verdict (pass X4, F4: without xdist it sent nothing and exited 0)
    _run_the_check(config)


def _run_the_check(config: pytest.Config) -> None:

    from migma_contract.config.options import PYTEST_SPELLINGS, user_redactor
    from migma_contract.core.exceptions import MigmaContractError, TargetUnreachable
    from migma_contract.core.flags import spelled
    from migma_contract.core.untrusted import clean_text
    from migma_contract.reports import check_writable, write_baseline, write_reports
    from migma_contract.run.runner import run_check

    options = plugin_options(config)  # a base URL written with /v1 is understood by the engine (api_root)
    report_dir = Path(options.report_dir)
    try:
        with spelled(PYTEST_SPELLINGS):  # the run's messages name flags as pytest spells them (`pass --migma-from`)
            check_writable(report_dir, options.format)
            result = run_check(options)
    except TargetUnreachable as exc:
        pytest.exit(f"migma-contract: {clean_text(user_redactor(options).text(str(exc)))}", returncode=3)
    except MigmaContractError as exc:
        raise pytest.UsageError(f"migma-contract: {clean_text(user_redactor(options).text(str(exc)))}") from None
    # every key the options know (command line, environment) masked once, here: the reports, the failures'
    # text (`_describe`), the terminal summary and the workers' copy all read this result
    mask = user_redactor(options)
    result = mask.data(result)
    left_out = _left_out(config)
    if left_out:  # the session's selection is no part of the verdict: it is said, and the exit status stays the check's
        failing = [rule.id for rule in result.rules if rule.id in left_out and rule.status == "failed"]
        result.warnings.append(
            f"{len(left_out)} rule(s) left out of this pytest session by its selection (-k, -m, --deselect, node ids): "
            f"{', '.join(left_out)}" + (f"; of them failing: {', '.join(failing)}" if failing else "")
            + "; the check judged every rule, and the session's exit status is its verdict")
    paths = write_reports(result, report_dir, options.format, secrets=mask.secrets)
    if options.write_baseline:
        paths.append(write_baseline(result, options.write_baseline, mask.secrets))
    config.stash[_RESULT] = result
    config.stash[_REPORTS] = [mask.text(str(p)) for p in paths]
    config.stash[_HEADLINE] = result.headline
    path = config.stash.get(_PATH, None)
    if path:  # for the xdist workers
        Path(path).write_text(json.dumps(result.to_dict()), encoding="utf-8")


def _result(config: pytest.Config) -> RunResult:
    if _RESULT not in config.stash:
        from migma_contract.run.result import RunResult

        path = config.workerinput.get("migma_contract_result") if _is_worker(config) else None  # type: ignore[attr-defined]
        if not path or not Path(path).stat().st_size:
            raise RuntimeError("the conformance check did not run")
        config.stash[_RESULT] = RunResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    return config.stash[_RESULT]


def _shares(config: pytest.Config) -> dict[str, float]:
    """Each rule's share of the check's wall time, in proportion to the checks it took part in."""
    if _SHARES not in config.stash:
        result = _result(config)
        total = sum(rule.exercised for rule in result.rules) or 1
        config.stash[_SHARES] = {rule.id: result.duration_s * rule.exercised / total for rule in result.rules}
    return config.stash[_SHARES]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, RuleItem) and report.when == "call":
        report.duration = _shares(item.config).get(item.rule.id, 0.0)  # the JUnit time and --durations
        if report.skipped and isinstance(report.longrepr, tuple):  # the rule, not pytest's own skip() line
            # no line number: pytest's skip summary then shows no ':<line>' (it reads None so, though typed int)
            report.longrepr = (item.nodeid, None, report.longrepr[2])  # type: ignore[assignment]
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's exit status is the check's verdict, whatever items were selected or deselected (pass V4, F1): a
    check that found violations fails the session (exit 1), and one that did not do all it planned (cut, aborted,
    interrupted) is no pass (exit 3), when nothing else failed."""
    config = session.config
    result = config.stash.get(_RESULT, None)
    if result is None or _is_worker(config) or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    if result.exit_code == 1:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif not result.complete or result.exit_code != 0:
        session.exitstatus = 3


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    headline = config.stash.get(_HEADLINE, None)
    if not headline:
        return
    from migma_contract.core.untrusted import clean_text

    terminalreporter.write_sep("-", "migma-contract")
    terminalreporter.write_line(clean_text(headline))  # each line cleaned: no control character, no CI workflow command
    result = config.stash.get(_RESULT, None)
    for warning in result.warnings if result is not None else ():
        terminalreporter.write_line(clean_text(f"warning: {warning}"))
    left_out = _left_out_under_xdist(config, result) if result is not None else []
    if left_out:  # the workers' selection, known after the check wrote its reports: said here, as the reports say theirs
        failing = [rule.id for rule in result.rules if rule.id in left_out and rule.status == "failed"] if result else []
        terminalreporter.write_line(clean_text(
            f"warning: {len(left_out)} rule(s) left out of this pytest session by its selection (-k, -m, --deselect): "
            f"{', '.join(left_out)}" + (f"; of them failing: {', '.join(failing)}" if failing else "")
            + "; the check judged every rule, and the session's exit status is its verdict"))
    for cause in result.root_causes if result is not None else ():
        terminalreporter.write_line(clean_text(f"root cause: {cause.line}"))
    for path in config.stash.get(_REPORTS, []):
        terminalreporter.write_line(clean_text(f"report: {path}"))
    if headline.startswith("NOT CONFORMANT"):
        terminalreporter.write_line(f"re-run one rule: pytest {SUITE}::<rule-id> (with the same --migma-* settings)")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_PATH, None)
    if path:
        Path(path).unlink(missing_ok=True)


# --- fixtures for API consumers (see migma_contract.testing) ----------------------------------------


@pytest.fixture(scope="session")
def migma_spec(pytestconfig: pytest.Config) -> Spec:
    """The OpenAPI document as the toolkit reads it (repaired, fingerprinted)."""
    from migma_contract.document.spec import load_spec

    return load_spec(plugin_options(pytestconfig).spec)


@pytest.fixture(scope="session")
def migma_rules(pytestconfig: pytest.Config) -> tuple[Rule, ...]:
    """The rules of the selected level (and of the vendor set with --migma-with-vendor)."""
    from migma_contract.contract.catalogue import rules_for

    options = plugin_options(pytestconfig)
    return rules_for(options.level, options.rule_sets)


@pytest.fixture(scope="session")
def migma_validate(migma_spec: Spec, pytestconfig: pytest.Config) -> Validators:
    """`migma_validate.request(body)`, `.response(status, headers, body)`, and `assert_*` helpers."""
    from migma_contract.testing import Validators

    return Validators(migma_spec, plugin_options(pytestconfig).level)


@pytest.fixture(scope="session")
def _migma_portal() -> Iterator[Any]:
    """One event-loop thread for every in-process client of the session."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        yield portal


def _session_mock(config: pytest.Config) -> Any:
    """The session's mock: the configured world (--migma-mock-config), refusing at the run's level."""
    from migma_contract.core.exceptions import MigmaContractError
    from migma_contract.core.untrusted import clean_text
    from migma_contract.mock import create_app

    options = plugin_options(config)
    try:
        app = create_app(options.mock_config)
        app.configure(level=options.level)
    except MigmaContractError as exc:
        raise pytest.UsageError(f"migma-contract: {clean_text(exc)}") from None
    return app


@pytest.fixture(scope="session")
def _migma_mock_session(pytestconfig: pytest.Config, _migma_portal: Any) -> Iterator[MockHandle]:
    from migma_contract.testing import MockHandle

    handle = MockHandle(_session_mock(pytestconfig), portal=_migma_portal)
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def _migma_server_session(pytestconfig: pytest.Config, _migma_portal: Any) -> Iterator[ServerHandle]:
    from migma_contract.testing import ServerHandle

    app = _session_mock(pytestconfig)
    with app.running() as url:
        handle = ServerHandle(app, url, portal=_migma_portal)
        yield handle
        handle.close()


def _for_this_test(request: pytest.FixtureRequest, handle: Any) -> Iterator[Any]:
    """A clean mock for the test, with its marker's world and faults; the strict consumer check after it."""
    import warnings

    from migma_contract.core.exceptions import MigmaContractError
    from migma_contract.core.untrusted import clean_text
    from migma_contract.testing import MigmaContractWarning

    marker = request.node.get_closest_marker("migma_mock")
    settings = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        raise pytest.UsageError("migma-contract: @pytest.mark.migma_mock takes keywords only "
                                "(world=..., faults=..., level=..., assert_all_requests_valid=...)")
    try:
        handle.start_test(**settings)
    except (MigmaContractError, TypeError) as exc:
        pytest.fail(f"migma-contract: @pytest.mark.migma_mock: {clean_text(exc)}", pytrace=False)
    yield handle
    handle.finish_test()
    path, line, _ = request.node.location
    for warning in handle.warnings():  # shown at the test that sent the request, not here
        warnings.warn_explicit(MigmaContractWarning(warning), MigmaContractWarning, path, (line or 0) + 1)
    breaches = handle.breaches() if handle.assert_all_requests_valid else None
    if breaches:
        pytest.fail(f"migma-contract: {breaches}", pytrace=False)


@pytest.fixture
def migma_mock(request: pytest.FixtureRequest, _migma_mock_session: MockHandle) -> Iterator[MockHandle]:
    """The reference mock in-process, clean for each test (see `migma_contract.testing.MockHandle`)."""
    yield from _for_this_test(request, _migma_mock_session)


@pytest.fixture
def migma_mock_server(request: pytest.FixtureRequest, _migma_server_session: ServerHandle) -> Iterator[ServerHandle]:
    """The reference mock on a free loopback port (one per xdist worker), clean for each test."""
    yield from _for_this_test(request, _migma_server_session)


@pytest.fixture(scope="session")
def migma_target(pytestconfig: pytest.Config, migma_validate: Validators, request: pytest.FixtureRequest) -> Iterator[TargetHandle]:
    """A client for the selected target: --migma-base-url (never production unless allowed), else a loopback mock."""
    from migma_contract.core.exceptions import MigmaContractError
    from migma_contract.core.untrusted import clean_text
    from migma_contract.document.spec import load_spec
    from migma_contract.testing import TargetHandle, production_guard

    options = plugin_options(pytestconfig)
    if options.base_url:
        try:
            production_guard(options.base_url, allow_production=options.allow_production, servers=load_spec(options.spec).servers)
        except MigmaContractError as exc:
            pytest.fail(f"migma-contract: {clean_text(exc)}", pytrace=False)
        handle = TargetHandle(options.base_url, options.api_key, options.fixtures, migma_validate, timeout=options.timeout)
    else:
        server: ServerHandle = request.getfixturevalue("_migma_server_session")
        handle = TargetHandle(server.url, server.full_key, server.app.config.fixtures(), migma_validate)
    yield handle
    handle.close()
