"""Every setting of a check, once: `CheckOptions` is the options table.

Each field is one row: its type and default are the field's, and its metadata (`_opt`)
says its command-line name, help, bounds and whether it is a secret. From these rows are
generated: the CLI flags (`--base-url`), the environment (`MIGMA_CONTRACT_BASE_URL`),
the `[tool.migma-contract]` keys of pyproject.toml (`base-url`), and the pytest options
and ini keys (`--migma-base-url`, `migma_base_url`). Values from every source go through
`parse_value`, so a bad value reads the same everywhere: one line, exit 2.

The environment uses its own prefix on purpose: `MIGMA_API_KEY` is the vendor's own
variable (its CLI and SDK read it) and often holds a production key; the toolkit never
picks it up silently.

Order of precedence: command line > environment > pytest ini (plugin only) >
pyproject.toml > default.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from migma_contract.contract.levels import Level, RuleSet
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.flags import flag
from migma_contract.core.untrusted import clean_text

if TYPE_CHECKING:  # imported where used: the pytest plugin reads this table in every pytest run
    from migma_contract.core.redact import Redactor
    from migma_contract.generate.bodies import Fixtures

__all__ = ["ENV_PREFIX", "OPTIONS", "PLAN_KINDS", "PYTEST_SPELLINGS", "REPORT_FORMATS", "CheckOptions", "Option", "resolve_options", "user_redactor", "user_secrets"]

ENV_PREFIX = "MIGMA_CONTRACT_"
REPORT_FORMATS = ("json", "junit", "md", "html")
PLAN_KINDS = ("full", "minimal")
# Level's values (contract/levels.py imports nothing, so reading the table, as every pytest run does,
# does not load the rule model)
LEVELS = tuple(level.value for level in Level)
_VENDOR_ENV = ("MIGMA_API_KEY", "MIGMA_BASE_URL")


def _opt(
    help: str,
    *,
    flag: str | None = None,
    kind: str = "str",
    low: float | None = None,
    low_open: bool = False,
    choices: Iterable[str] = (),
    secret: bool = False,
    negate: str | None = None,
    group: str = "run",
) -> dict[str, Any]:
    return {"option": {"help": help, "flag": flag, "kind": kind, "low": low, "low_open": low_open,
                       "choices": tuple(choices), "secret": secret, "negate": negate, "group": group}}


@dataclass(frozen=True)
class CheckOptions:
    """The settings of one conformance check (the options table: one field per setting)."""

    base_url: str | None = field(default=None, metadata=_opt(
        "The server to check (default: the embedded reference mock).", kind="url", group="target"))
    api_key: str | None = field(default=None, metadata=_opt(
        "A full-scope key (email:send) of the target; never read from files.", secret=True, group="target"))
    restricted_api_key: str | None = field(default=None, metadata=_opt(
        "A valid key WITHOUT email:send, to exercise auth-scope (403).", secret=True, group="target"))
    second_api_key: str | None = field(default=None, metadata=_opt(
        "Another full-scope key, to exercise idempotency-scope (with --with-vendor); the fixtures must suit it too.",
        secret=True, group="target"))
    level: Level = field(default=Level.DOCUMENTED, metadata=_opt(
        "schema: the schemas alone; documented: plus the prose; strict: plus the strictest reading.",
        kind="level", choices=[level.value for level in Level]))
    with_vendor: bool = field(default=False, metadata=_opt(
        "Also judge the vendor set (the vendor's wider docs, not the bundled document): Idempotency-Key replay, "
        "conflict, scope, length, 429/5xx never stored, and 429 Retry-After.", kind="bool"))
    plan: str = field(default=PLAN_KINDS[0], metadata=_opt(
        "full: the deterministic plan, then exploration; minimal: every exercisable rule once with the fewest "
        "requests, and no exploration (a gate for a rate-limited staging).", kind="choice", choices=PLAN_KINDS))
    seed: int = field(default=0, metadata=_opt("Same seed and target, same requests.", kind="int"))
    max_requests: int = field(default=180, metadata=_opt(
        "Budget: requests sent in all (the plan first, exploration with the rest).", kind="int", low=1))
    max_time: float | None = field(default=None, metadata=_opt(
        "Deadline for the whole run, in seconds.", kind="float", low=0, low_open=True))
    timeout: float = field(default=10.0, metadata=_opt(
        "Per request, in seconds; a slower answer is a responds-in-time finding.", kind="float", low=0, low_open=True))
    max_timeouts: int = field(default=3, metadata=_opt(
        "Stop the run after this many timed-out requests (it still reports what it judged).", kind="int", low=1))
    max_findings_per_rule: int = field(default=5, metadata=_opt(
        "Distinct findings kept per rule (by value class and symptom); a failed rule is still exercised.", kind="int", low=1))
    rate: float | None = field(default=None, metadata=_opt(
        "Requests per second at most (at least 0.01: one request in 100 s).", kind="float", low=0.01))
    max_retries: int = field(default=3, metadata=_opt(
        "Retries of a 429 answer (after its Retry-After).", kind="int", low=0))
    max_retry_wait: float = field(default=30.0, metadata=_opt(
        "Longest Retry-After wait honoured, in seconds.", kind="float", low=0))
    max_response_bytes: int = field(default=1 << 20, metadata=_opt(
        "Response bodies are read up to this many bytes.", kind="int", low=1))
    from_address: str | None = field(default=None, metadata=_opt(
        "Fixture: a verified sender address of the target.", flag="from", group="fixtures"))
    email_id: str | None = field(default=None, metadata=_opt("Fixture: an existing emailId.", group="fixtures"))
    conversation_id: str | None = field(default=None, metadata=_opt(
        "Fixture: an existing single-email conversationId.", group="fixtures"))
    project_id: str | None = field(default=None, metadata=_opt("Fixture: the project of that email.", group="fixtures"))
    audience_id: str | None = field(default=None, metadata=_opt("Fixture: an audience to batch-send to.", group="fixtures"))
    segment_id: str | None = field(default=None, metadata=_opt("Fixture: a segment to batch-send to.", group="fixtures"))
    tag_id: str | None = field(default=None, metadata=_opt("Fixture: a tag to batch-send to.", group="fixtures"))
    provider: tuple[str, ...] = field(default=(), metadata=_opt(
        "Fixture: a connected providerType (repeatable, or comma-separated).", kind="list", group="fixtures"))
    recipient_domain: str = field(default="example.com", metadata=_opt(
        "Domain of generated recipients (keep it a reserved one: example.com, *.test).", kind="domain", group="fixtures"))
    spec: str | None = field(default=None, metadata=_opt(
        "Another OpenAPI document (default: the bundled one).", kind="path"))
    report_dir: str = field(default="reports", metadata=_opt("Where the reports go.", kind="path", group="output"))
    format: tuple[str, ...] = field(default=REPORT_FORMATS, metadata=_opt(
        "Report formats, comma-separated.", kind="list", choices=REPORT_FORMATS, group="output"))
    baseline: str | None = field(default=None, metadata=_opt(
        "Known failures to accept: a baseline file (--write-baseline), a conformance.json, or rule ids (a rule id alone accepts "
        "all its failures).", kind="path", group="output"))
    write_baseline: str | None = field(default=None, metadata=_opt(
        "Write a baseline accepting exactly this run's failures (each finding: rule id and key) to this file; stale entries "
        "of --baseline are dropped.", kind="path", group="output"))
    explore: bool = field(default=True, metadata=_opt(
        "Spend the budget left after the plan on generated requests.", kind="bool", negate="no-explore"))
    allow_production: bool = field(default=False, metadata=_opt(
        "Allow --base-url to be the document's production server.", kind="bool", group="target"))
    insecure: bool = field(default=False, metadata=_opt(
        "Do not verify TLS certificates (said in the report).", kind="bool", group="target"))
    follow_redirects: bool = field(default=False, metadata=_opt(
        "Follow redirects (credentials never go to another origin).", kind="bool", group="target"))
    mock_config: str | None = field(default=None, metadata=_opt(
        "World of the embedded mock (when no --base-url), YAML or JSON.", kind="path", group="target"))

    # -- derived views ------------------------------------------------------------------------

    @property
    def fixtures(self) -> Fixtures:
        from migma_contract.generate.bodies import Fixtures

        return Fixtures(
            from_address=self.from_address, email_id=self.email_id, conversation_id=self.conversation_id,
            project_id=self.project_id, audience_id=self.audience_id, segment_id=self.segment_id, tag_id=self.tag_id,
            providers=self.provider or None, recipient_domain=self.recipient_domain,
        )

    @property
    def verify_tls(self) -> bool:
        return not self.insecure

    def __post_init__(self) -> None:
        # Parsed once: a level given as text in Python (CheckOptions(level="strict")) becomes a Level here; a
        # value that is none is left for validate() to refuse in the table's words.
        if not isinstance(self.level, Level) and self.level in tuple(Level):
            object.__setattr__(self, "level", Level(self.level))

    @property
    def rule_sets(self) -> tuple[RuleSet, ...]:
        """The rule sets this run judges: the contract, and the vendor set when asked for."""
        return (RuleSet.CONTRACT, RuleSet.VENDOR) if self.with_vendor else (RuleSet.CONTRACT,)

    @property
    def explores(self) -> bool:
        """Whether exploration runs: asked for, and the full plan (the minimal plan spends nothing more)."""
        return self.explore and self.plan == PLAN_KINDS[0]

    def with_fixtures(self, fixtures: Fixtures) -> CheckOptions:
        """These options with the fixture fields taken from `fixtures`."""
        return replace(
            self, from_address=fixtures.from_address, email_id=fixtures.email_id,
            conversation_id=fixtures.conversation_id, project_id=fixtures.project_id,
            audience_id=fixtures.audience_id, segment_id=fixtures.segment_id, tag_id=fixtures.tag_id,
            provider=tuple(fixtures.providers or ()), recipient_domain=fixtures.recipient_domain,
        )

    def validate(self) -> CheckOptions:
        """Every value checked as if it came from the command line (for options built in Python)."""
        for option in OPTIONS:
            value = getattr(self, option.name)
            if value != option.default and value is not None:
                option.check(value, flag(option.flag_name))
        if self.base_url is not None and not self.api_key:
            raise ConfigError(f"a live target needs a full-scope key: pass {flag('--api-key')} or set {ENV_PREFIX}API_KEY")
        _check_vendor_level(self)
        return self


@dataclass(frozen=True)
class Option:
    """One row of the options table, read from a `CheckOptions` field."""

    name: str
    flag: str
    kind: str
    default: Any
    help: str
    secret: bool
    low: float | None
    low_open: bool
    choices: tuple[str, ...]
    negate: str | None
    group: str

    @property
    def flag_name(self) -> str:
        return f"--{self.flag}"

    def help_for(self, spellings: Mapping[str, str] | None = None) -> str:
        """The help text with each flag it names spelled as a command or way in spells it (`--base-url` reads
        `--upstream` in the proxy's help, `--with-vendor` reads `--migma-with-vendor` in pytest's)."""
        if not spellings:
            return self.help
        return re.sub(r"--[a-z][a-z-]*", lambda match: spellings.get(match.group(), match.group()), self.help)

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.upper().replace("-", "_")

    @property
    def pyproject_key(self) -> str | None:
        return None if self.secret else self.flag

    @property
    def pytest_flag(self) -> str:
        return f"--migma-{self.negate if self.negate else self.flag}"

    @property
    def ini_key(self) -> str | None:
        return None if self.secret else f"migma_{self.name}"

    def parse(self, raw: Any, source: str) -> Any:
        """A value from `source` (a flag, an env var, a file key) as this option's type; ConfigError otherwise."""
        where = source
        value: Any
        if self.kind == "bool":
            value = _bool(raw, where)
        elif self.kind == "int":
            value = _int(raw, where)
        elif self.kind == "float":
            value = _float(raw, where)
        elif self.kind == "list":
            value = _list(raw, where)
        else:
            if not isinstance(raw, str):
                raise ConfigError(f"{where}: expected text, not {type(raw).__name__} {_shown(raw)}")
            value = usable_url(raw) if self.kind == "url" else raw  # (whitespace around it, an IPv6 zone's %25: as sent)
        self.check(value, where)
        return Level(value) if self.kind == "level" else value

    def check(self, value: Any, where: str) -> None:
        """Bounds, choices and forms; the message names `where` and never a secret's value."""
        if self.kind in ("int", "float") and value is not None:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where}: must be a finite number, not {value}")
            if self.low is not None and (value <= self.low if self.low_open else value < self.low):
                bound = f"greater than {self.low:g}" if self.low_open else f"at least {self.low:g}"
                raise ConfigError(f"{where}: must be {bound}, not {_shown(value)}")  # (`:g` overflows on a huge int)
            if isinstance(value, int) and abs(value) > _LARGEST_WHOLE:  # (a budget of 401 digits overflowed a float)
                bound = f"at most {_LARGEST_WHOLE}" if value > 0 else f"at least {-_LARGEST_WHOLE}"
                raise ConfigError(f"{where}: must be {bound}, not {_shown(value)}")
        if self.kind in ("choice", "level") and value not in self.choices:
            raise ConfigError(f"{where}: {_shown(value)} is not one of {', '.join(self.choices)}")
        if self.kind == "list" and self.choices:
            unknown = [v for v in value if v not in self.choices]
            if unknown or not value:
                raise ConfigError(f"{where}: {_shown(unknown[0] if unknown else '')} is not one of {', '.join(self.choices)}")
        if self.secret and isinstance(value, str) and (
            not value or not value.isascii() or not value.isprintable() or any(ch.isspace() for ch in value)
        ):
            raise ConfigError(f"{where}: a key must be printable ASCII without spaces or control characters "
                                  "(the value is not shown)")
        if self.secret and isinstance(value, str) and (value[:1] in _KEY_QUOTES or value[-1:] in _KEY_QUOTES):
            # a .env read literally (`docker run --env-file`) keeps the quotes: the key would be sent quoted, never meant
            raise ConfigError(f"{where}: the key is quoted: remove the quotes (the value is not shown)")
        if self.kind == "url" and isinstance(value, str):
            _check_url(value, where)
        if self.kind == "domain" and isinstance(value, str) and (
            "@" in value or not value.isprintable() or not all(value.split("."))
        ):  # an empty label (`example.com.`, `.example.com`, `a..b`): no email address holds it (pass X4, F6)
            raise ConfigError(f"{where}: must be a domain such as example.com, not {_shown(value)} (no empty label: "
                              "no leading, trailing or double dot)")
        if self.kind in ("str", "path") and isinstance(value, str) and not value.isprintable():
            raise ConfigError(f"{where}: holds control characters")


_KEY_QUOTES = "\"'`"  # a key never starts or ends with one
_LARGEST_WHOLE = (1 << 63) - 1  # a whole-number setting past it is no setting (pass V4, F3)


# A repository's own files (pyproject.toml, pytest's ini) are the repository's: on a pull request,
# whoever wrote it. They may not choose where a key from the environment or the command line goes.
TRUST_CONFIG_TARGET_ENV = ENV_PREFIX + "TRUST_CONFIG_TARGET"


def _is_loopback(url: str) -> bool:
    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only `localhost` itself (a `*.localhost` name is left to the resolver, which may ask DNS)
        return host == "localhost"


# Options a repository file may not set when the run carries a key from the environment or the command line, each
# with the values that weaken the run: what protects the key or the target (TLS checks, the production guard,
# redirects that carry the key elsewhere, recipients at a real domain), or what the check counts against the
# target the user named (a baseline accepting known failures, a level judging fewer rules, another document to
# judge by, a longer wait before a slow answer is a finding), or what the run sends and explores (a smaller plan,
# no exploration, a smaller budget, a seed it chose: a fault only some sends meet is then never met; pass T4, F2).
# A repository's file could otherwise turn the user's faulty server green. The batch fixtures choose real
# recipients (an audience, a segment, a tag of the user's account): a repository's file may no more pick them
# than it may pick the recipient domain (pass T4, F4).
# Nor may it raise what the run costs the user's target without bound (pass V4, F4): a budget over
# `REPOSITORY_MAX_REQUESTS` (each request a real send with the user's key), more 429 retries than the default, or a
# rate under `REPOSITORY_RATE_FLOOR` requests a second (a run that crawls until the CI job's timeout, no verdict).
REPOSITORY_MAX_REQUESTS = 1000
REPOSITORY_RATE_FLOOR = 1.0
WEAKENING: dict[str, Callable[[Any], bool]] = {
    "insecure": bool,
    "allow_production": bool,
    "follow_redirects": bool,
    "recipient_domain": lambda value: value != CheckOptions.recipient_domain,
    "audience_id": lambda value: True,
    "segment_id": lambda value: True,
    "tag_id": lambda value: True,
    "baseline": bool,
    "level": lambda value: not Level(value).includes(CheckOptions.level),
    "spec": bool,
    "timeout": lambda value: value > CheckOptions.timeout,  # (shorter: a slow answer is a responds-in-time finding)
    "plan": lambda value: PLAN_KINDS.index(value) > PLAN_KINDS.index(CheckOptions.plan),
    "explore": lambda value: not value,
    "max_requests": lambda value: value < CheckOptions.max_requests or value > REPOSITORY_MAX_REQUESTS,
    "rate": lambda value: value < REPOSITORY_RATE_FLOOR,
    "max_time": lambda value: CheckOptions.max_time is None or value < CheckOptions.max_time,
    "seed": lambda value: value != CheckOptions.seed,
    # pass Y3, F4: what turns a failure into INCOMPLETE (exit 3, which a gate may read as "staging unreachable") or
    # hides findings: a smaller body cap (every body unjudged), fewer 429 retries or a shorter Retry-After honoured
    # (answers given up on), fewer findings kept per rule (a new finding of a baselined rule dropped), fewer reports.
    "max_response_bytes": lambda value: value < CheckOptions.max_response_bytes,
    "max_retries": lambda value: value != CheckOptions.max_retries,
    "max_retry_wait": lambda value: value < CheckOptions.max_retry_wait,
    "max_findings_per_rule": lambda value: value < CheckOptions.max_findings_per_rule,
    "format": lambda value: not set(REPORT_FORMATS) <= set(value),
}
# Every other option a repository file may set, and why it cannot weaken a keyed run to a target the user named (pass
# Y3, F4: each option is in WEAKENING, here, or a secret; tests/test_pass_y3.py fails on an option in none of them).
REPOSITORY_HARMLESS: dict[str, str] = {
    "base_url": "a target a repository file names gets no key from the environment or the command line (its own guard)",
    "with_vendor": "judges more rules, never fewer",
    "max_timeouts": "the run stops only after timeouts, each a responds-in-time finding: exit 1, never a pass",
    "from_address": "a fixture of the target's account: a wrong one is answered by the target, and that answer judged",
    "email_id": "a fixture of the target's account: a wrong one is answered by the target, and that answer judged",
    "conversation_id": "a fixture of the target's account: a wrong one is answered by the target, and that answer judged",
    "project_id": "a fixture of the target's account: a wrong one is answered by the target, and that answer judged",
    "provider": "a fixture of the target's account: a wrong one is answered by the target, and that answer judged",
    "report_dir": "where reports go, kept inside the repository (paths checked); the verdict and exit status are unchanged",
    "write_baseline": "written inside the repository after the verdict; this run's verdict and exit status are unchanged",
    "mock_config": "the embedded mock's world: read only when the run has no target of the user's",
}


def _guard_repository_target(values: Mapping[str, Any], from_repository: Mapping[str, str], environ: Mapping[str, str],
                             target: str | None = None, carries: str | None = None) -> None:
    """A key from the environment or the command line goes only to a target from there too, or to loopback, and
    no repository file weakens how it is sent or what is judged (`WEAKENING`), unless
    `MIGMA_CONTRACT_TRUST_CONFIG_TARGET` is set (never settable from a file).

    Whatever the command: a run judges a server the user named when it has a `base_url`, or a `target` of its own
    (the proxy's upstream, `judge`'s recordings); it carries the user's keys when a key row holds one (given, or in
    the environment, even if the command sends none) or when it `carries` credentials besides, whatever the
    environment holds (the proxy: its clients' keys and the upstream's pass through it; `judge`: the recordings'
    credentials, and a verdict a CI job without a key gates on; `carries` names the run so)."""
    url = values.get("base_url")
    where = from_repository.get("base_url")
    if (url is None and target is None) or _bool(environ.get(TRUST_CONFIG_TARGET_ENV, ""), TRUST_CONFIG_TARGET_ENV):
        return
    keyed = any((values.get(option.name) and option.name not in from_repository) or environ.get(option.env)
                for option in OPTIONS if option.secret)
    if not keyed and carries is None:
        return
    run = carries or "a run that carries a key from the environment or the command line"
    for name, weakens in WEAKENING.items():  # nor weaken how the run treats a key and a live target
        option = _BY_KEY[name]
        chosen = from_repository.get(name)
        if chosen is not None and values.get(name) is not None and weakens(values[name]):
            typed = f"--{option.negate}" if option.negate and values[name] is False else option.flag_name  # --no-explore
            raise ConfigError(
                f"{chosen}: a repository file may not set {flag(option.flag_name)} for {run} (it "
                f"weakens what protects the key and the target, or what the run sends or counts); pass {flag(typed)} "
                f"yourself, or set {TRUST_CONFIG_TARGET_ENV}=1 to trust this file")
    if where is not None and url is not None and not _is_loopback(url):
        raise ConfigError(
            f"{where}: a repository file names the target {_shown_url(url)}; a key from the environment or the command "
            f"line is not sent where a repository file says (pass {flag('--base-url')} yourself, or set {TRUST_CONFIG_TARGET_ENV}=1 "
            "to trust this file)")


def repository_held(options: CheckOptions, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a repository's files are held to `WEAKENING` for this run: it carries a key of the user's (keys are
    never read from files) to a target it names, and `MIGMA_CONTRACT_TRUST_CONFIG_TARGET` is not set. Other guards
    that read a file's choices (pytest's `addopts` selecting rules: pass V4, F1) ask this too."""
    environ = os.environ if environ is None else environ
    if options.base_url is None or _bool(environ.get(TRUST_CONFIG_TARGET_ENV, ""), TRUST_CONFIG_TARGET_ENV):
        return False
    return any(getattr(options, option.name) or environ.get(option.env) for option in OPTIONS if option.secret)


def _shown_url(url: str) -> str:
    from migma_contract.core.redact import strip_credentials

    shown = strip_credentials(url)
    return repr(shown if len(shown) <= 80 else shown[:80] + "…")


def _inside(option: Option, value: Any, root: Path, where: str) -> Any:
    """A path a repository file gives, read relative to the folder `root` of that file, stays inside it (no absolute
    path, no `..` out, no link out): the path resolved (links followed), which is what the run then uses. It is read
    against `root`, not the working directory: checked there and used from elsewhere (pytest run from a subfolder
    holding a link of the same name), it was written through a link out of the repository. Other values as they are."""
    if option.kind != "path" or not isinstance(value, str):
        return value
    base = root.resolve()
    resolved = _resolved_inside(base, value)
    if Path(value).is_absolute() or resolved is None:
        raise ConfigError(f"{where}: {_shown(value)} is outside the repository ({base}); a repository file keeps its paths "
                          f"inside it (pass {flag(option.flag_name)} yourself for another place)")
    if _in_git(resolved.relative_to(base)):  # git's own files (config, hooks) run commands: a file there is no output
        raise ConfigError(f"{where}: {_shown(value)} is inside the repository's {_IN_VCS}; a repository file never "
                          f"names a path there (pass {flag(option.flag_name)} yourself for another place)")
    if not str(resolved).isprintable():  # `out` a committed link to "\x1b]0;…\n::error::…" (pass V4, F2)
        raise ConfigError(f"{where}: {_shown(value)} resolves (through a link) to a path that holds control characters")
    return str(resolved)


# The folders where version control keeps its own files: git's config and hooks run commands, Mercurial's hgrc
# names hooks too (.hg), and the others' (.svn, .bzr, _darcs, .jj, .pijul, CVS) are no place for output either.
_VCS_FOLDERS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", ".pijul", "cvs"})
_IN_VCS = ".git folder (or another version control's own folder)"


def _in_git(relative: Path) -> bool:
    """Whether a path (relative to the repository, links resolved) passes through a folder named `.git` (or another
    version control's own folder, `_VCS_FOLDERS`), in any case (a case-insensitive file system's `.GIT` is `.git`;
    Windows drops trailing dots and spaces: `.git.`, and may name it by its 8.3 short name, `GIT~1`)."""
    return any(part.casefold().rstrip(". ") in _VCS_FOLDERS or _SHORT_GIT.fullmatch(part) for part in relative.parts)


_SHORT_GIT = re.compile(r"git~[0-9]+", re.IGNORECASE)


def _resolved_inside(base: Path, path: str | Path) -> Path | None:
    """`path` under the resolved folder `base`, links followed, if it stays inside `base` (None when it leaves it)."""
    try:
        resolved = (base / path).resolve()
    except (OSError, RuntimeError):  # a loop of links
        return None
    return resolved if resolved.is_relative_to(base) else None


def _default_report_dir_inside(root: Path) -> None:
    """The default report dir, when no one named one, is not a link a repository holds to a place out of it, nor
    into its `.git` folder (or another version control's: `_in_git`), as a path a repository file names is not."""
    option = _BY_KEY["report_dir"]
    default = Path(str(option.default))
    if not (root / default).is_symlink():
        return
    base = root.resolve()
    resolved = _resolved_inside(base, default)
    if resolved is None:
        target = os.path.realpath(base / default)
        raise ConfigError(f"the default {flag(option.flag_name)} {str(default)!r} is a link out of the working directory "
                          f"({clean_text(target)[:120]}); reports are not written through it (pass "
                          f"{flag(option.flag_name)} or set {option.env} to write there)")
    if _in_git(resolved.relative_to(base)):  # pass T4, F5: `reports -> .git` committed
        raise ConfigError(f"the default {flag(option.flag_name)} {str(default)!r} is a link inside the repository's "
                          f"{_IN_VCS}; reports are not written through it (pass {flag(option.flag_name)} or set "
                          f"{option.env} to write there)")


def _check_vendor_level(options: CheckOptions) -> None:
    """The vendor rules are prose (level documented): a schema-level run would judge none of them."""
    if options.with_vendor and not options.level.includes(Level.DOCUMENTED):
        raise ConfigError(f"{flag('--with-vendor')}: the vendor rules are at level documented; {flag('--level')} {options.level} leaves them "
                          f"all out (use {flag('--level')} documented or strict)")


def _shown(value: Any) -> str:
    """A value quoted for a one-line message: control characters escaped, long ones cut short.

    Short on purpose: a key put in the wrong variable (MIGMA_CONTRACT_LEVEL=<key>) must not
    be echoed whole; 12 characters say which value it was without giving it away.
    """
    text = repr(value)
    return text if len(text) <= 14 else text[:12] + "…"


def _bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: expected true or false, not {_shown(raw)}")


def _int(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ConfigError(f"{where}: expected a whole number, not {_shown(raw)}")
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{where}: expected a whole number, not {_shown(raw)}") from None


def _float(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError(f"{where}: expected a number, not {_shown(raw)}")
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{where}: expected a number, not {_shown(raw)}") from None
    except OverflowError:  # an integer too large for a float (401 digits): a setting, not a crash (pass V4, F3)
        raise ConfigError(f"{where}: must be a finite number, not {_shown(raw)}") from None


def _list(raw: Any, where: str) -> tuple[str, ...]:
    items: list[Any] | tuple[Any, ...] = raw if isinstance(raw, (list, tuple)) else [raw]
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{where}: expected text or a list of text, not {_shown(raw)}")
    return tuple(part.lower() for item in items for part in item.replace(",", " ").split())


def usable_url(value: str) -> str:
    from migma_contract.wire.urls import usable_url as usable

    return usable(value)


def _check_url(value: str, where: str) -> None:
    from migma_contract.wire.urls import check_url  # the one reading of a URL the user gives

    check_url(value, where)


OPTIONS: tuple[Option, ...] = tuple(
    Option(
        name=f.name,
        flag=f.metadata["option"]["flag"] or f.name.replace("_", "-"),
        kind=f.metadata["option"]["kind"],
        default=f.default,
        help=f.metadata["option"]["help"],
        secret=f.metadata["option"]["secret"],
        low=f.metadata["option"]["low"],
        low_open=f.metadata["option"]["low_open"],
        choices=f.metadata["option"]["choices"],
        negate=f.metadata["option"]["negate"],
        group=f.metadata["option"]["group"],
    )
    for f in fields(CheckOptions)
)
_BY_KEY = {key: option for option in OPTIONS for key in {option.flag, option.name, option.name.replace("_", "-")}}

# Each flag pytest has, by the CLI's spelling (a negated flag, --no-explore, is pytest's; --explore is not):
# the pytest plugin runs a check within `_flags.spelled(PYTEST_SPELLINGS)`, so its messages name pytest's flags
PYTEST_SPELLINGS = {(f"--{o.negate}" if o.negate else o.flag_name): o.pytest_flag for o in OPTIONS}


TABLE = "migma-contract"  # the table of pyproject.toml, [tool.migma-contract]
MAX_PYPROJECT_BYTES = 1 << 20  # a repository's pyproject.toml is read whole: a real one is a few KB


def pyproject_table(path: Path, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`[tool.migma-contract]` of `path` ({} when the file or the table is absent).

    A table whose name is a near miss (`[tool.migma_contract]`, `[tool.migma-contracts]`) would be
    silently ignored: `warn` hears of it, with the right name.
    """
    from migma_contract.core import bounded
    from migma_contract.core.untrusted import read_bounded

    if not path.is_file():
        return {}
    shown = clean_text(path)
    try:
        data = bounded.load_toml(read_bounded(path, MAX_PYPROJECT_BYTES).decode("utf-8"), what="pyproject.toml files")
    except ConfigError as exc:  # read_bounded's: not a regular file, over the size, unreadable
        raise ConfigError(f"{shown}: cannot read [tool.{TABLE}]: {str(exc).removeprefix(shown + ': ')}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: cannot read [tool.{TABLE}]: not UTF-8 text (byte {exc.start})") from None
    except bounded.Bounded as exc:
        raise ConfigError(f"{shown}: cannot read [tool.{TABLE}]: {clean_text(exc.message)}") from None
    tools = data.get("tool", {})
    if warn is not None and isinstance(tools, dict):
        for name in tools:
            if name != TABLE and _near(str(name)):
                warn(f"{path}: [tool.{clean_text(name)[:60]}] is not read; did you mean [tool.{TABLE}]?")
    section = tools.get(TABLE, {}) if isinstance(tools, dict) else {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.{TABLE}] must be a table")
    return section


def _near(name: str) -> bool:
    """A table name someone meant as `migma-contract`: another spelling of it, or a near miss."""
    folded = name.lower().replace("_", "-").replace(".", "-")
    return folded.startswith(TABLE) or difflib.SequenceMatcher(None, folded, TABLE).ratio() >= 0.8


def _windows_path(value: str) -> bool:
    """`C:\\reports`, `D:/x` or `reports\\mc`: a Windows path, which POSIX reads as one odd file name."""
    return bool(re.match(r"[A-Za-z]:[\\/]", value)) or "\\" in value


def user_secrets(*sources: CheckOptions | Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every key the user gave the toolkit: the one place each way in builds its redactor from.

    Each secret row of the options table (the full-scope key, the restricted key, the second key), as it
    stands in each of `sources` (resolved `CheckOptions`, or a command's raw arguments by option name) and
    in the environment (`environ`, default `os.environ`), whether or not the command reads that row: `judge`
    and `proxy` send no key, yet a key in their environment is the user's, and traffic may echo it.
    """
    from migma_contract.core.redact import unquoted, url_credentials

    environ = os.environ if environ is None else environ
    found: list[str] = []
    for option in OPTIONS:
        if not option.secret:
            continue
        for source in sources:
            value = source.get(option.name) if isinstance(source, Mapping) else getattr(source, option.name, None)
            if isinstance(value, str) and value:
                found.append(value)
        if environ.get(option.env):
            found.append(environ[option.env])
    # ...and the credentials of every URL given (`--base-url`, the proxy's `--upstream`: `https://user:password@host`,
    # sent as a Basic pair, which a server may echo): each URL row, any URL among a command's arguments or in the
    # toolkit's environment
    urls = [getattr(source, option.name, None) for source in sources if not isinstance(source, Mapping)
            for option in OPTIONS if option.kind == "url"]
    urls += [value for source in sources if isinstance(source, Mapping) for value in source.values()]
    urls += [value for name, value in environ.items() if name.startswith(ENV_PREFIX)]
    found += [secret for url in urls if isinstance(url, str) and "@" in url for secret in url_credentials(url)]
    # each also without quotes or brackets around it: a key kept quoted (a .env read literally) is echoed bare
    return tuple(dict.fromkeys(secret for value in found for secret in (value, unquoted(value)) if secret))


def user_redactor(*sources: CheckOptions | Mapping[str, Any] | None, also: Iterable[str | None] = ()) -> Redactor:
    """A redactor masking every key of `user_secrets(*sources)` (and `also`): what each writer masks with."""
    from migma_contract.core.redact import Redactor

    return Redactor([*also, *user_secrets(*sources)])


def resolve_options(
    given: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    ini: Callable[[Option], Any] | None = None,
    pyproject: Path | None = None,
    given_label: Callable[[Option], str] = lambda option: option.flag_name,
    warn: Callable[[str], None] | None = None,
    only: Iterable[str] | None = None,
    given_by_repository: Mapping[str, Path] | None = None,
    ini_folder: Path | None = None,
    ini_by_user: Collection[str] = (),
    target: str | None = None,
    carries: str | None = None,
) -> CheckOptions:
    """The options of a check, each from the first source that sets it (see the module docstring).

    `given` maps option names to values the user passed explicitly (already typed, or
    text); `environ` defaults to os.environ; `pyproject` to ./pyproject.toml. `only`
    names the rows a command uses (the others keep their defaults, whatever the sources say).
    `given_by_repository`: options of `given` that a repository's file put on the command line
    (pytest's `addopts`, an `@file`: whatever the user did not type), with that repository's folder: held to what its own files may choose.
    `ini_folder`: the folder of the ini file `ini` reads (default: the working directory). `ini_by_user`: the ini keys
    whose value `ini` gives the user typed (pytest's `-o key=value` on the command line or in $PYTEST_ADDOPTS, not in a
    file's `addopts` or an `@file`): the user's, as a flag they typed is, not held to the repository's guards.
    A path a repository's file sets (`given_by_repository`, an ini key, `[tool.migma-contract]`) is read once, relative
    to that file's folder, links resolved; it must stay inside that folder, and the option holds that resolved path,
    so what was checked is what is read or written, wherever the command runs from (`_inside`).
    `target`: what the run sends to or judges when it is no `base_url` row (the proxy's upstream, `judge`'s
    recordings); `carries`: the run, named by the credentials it carries besides the key rows (the proxy): with
    either, a repository file is held to the same guard as a check of a live target (`_guard_repository_target`).
    """
    given_by_repository = given_by_repository or {}
    wanted = set(only) if only is not None else None
    given = given or {}
    environ = os.environ if environ is None else environ
    path = pyproject if pyproject is not None else Path.cwd() / "pyproject.toml"
    table = pyproject_table(path, warn)
    from_file: dict[str, Any] = {}
    for key, value in table.items():
        option = _BY_KEY.get(str(key))
        if option is None:
            known = ", ".join(sorted(o.pyproject_key for o in OPTIONS if o.pyproject_key))
            raise ConfigError(f"{path}: [tool.migma-contract] has unknown key {_shown(key)}; known: {known}")
        if option.secret:
            raise ConfigError(f"{path}: [tool.migma-contract] {key}: keep keys out of files; set {option.env} instead")
        from_file[option.name] = (value, f"{path}: [tool.migma-contract] {key}")
    values: dict[str, Any] = {}
    from_repository: dict[str, str] = {}  # option -> where: values a repository's own file chose
    for option in OPTIONS:
        if wanted is not None and option.name not in wanted:
            continue
        repository: Path | None = None  # the folder of the repository file that chose the value, if one did
        if given.get(option.name) is not None and given.get(option.name) != ():
            raw, where = given[option.name], given_label(option)
            if option.name in given_by_repository:
                where, repository = f"{where} (from a repository file: addopts or an @file)", given_by_repository[option.name]
        elif environ.get(option.env) not in (None, ""):
            raw, where = environ[option.env], option.env
        elif ini is not None and option.ini_key and (raw := ini(option)) not in (None, "", []):
            if option.ini_key in ini_by_user:
                where = f"-o {option.ini_key}"
            else:
                where, repository = f"ini {option.ini_key}", ini_folder if ini_folder is not None else Path.cwd()
        elif option.name in from_file:
            (raw, where), repository = from_file[option.name], path.parent
        else:
            continue
        values[option.name] = value = option.parse(raw, where)
        if warn is not None and option.kind == "path" and os.name != "nt" and _windows_path(value):
            warn(f"{where}: {clean_text(repr(value))[:80]} looks like a Windows path; here it names a file or folder "
                 "literally called so (use / between folders)")
        if repository is not None:
            # a repository's own file chose it: it may not aim the environment's key elsewhere, nor read or write
            # outside; a path is used as it was checked (resolved against the file's folder), never again from the cwd
            from_repository[option.name] = where
            values[option.name] = _inside(option, value, repository, where)
    _guard_repository_target(values, from_repository, environ, target, carries)
    if "report_dir" not in values and (wanted is None or "report_dir" in wanted):
        _default_report_dir_inside(Path.cwd())
    if warn is not None:
        for name in _VENDOR_ENV:
            mine = ENV_PREFIX + name.removeprefix("MIGMA_")
            if environ.get(name) and not environ.get(mine):
                warn(f"{name} is set but not used (it is the vendor's own variable); migma-contract reads {mine}")
    options = CheckOptions(**values)
    if options.base_url is not None and "@" in urlsplit(options.base_url).netloc:
        # httpx sends a URL's user:password as `Authorization: Basic`, in place of the run's Bearer key (the proxy's
        # --upstream, parsed alike, keeps its documented Basic credential: it is no `base_url` row)
        from migma_contract.core.redact import strip_credentials

        option = next(o for o in OPTIONS if o.name == "base_url")
        raise ConfigError(f"{given_label(option)} must not hold a user name or password "
                          f"({_shown(strip_credentials(options.base_url))}): the client would send them as "
                          "`Authorization: Basic` in place of the API key's Bearer header, so no request would carry "
                          f"the key; give the key with {next(o for o in OPTIONS if o.name == 'api_key').env}")
    if options.base_url is not None and not options.api_key:
        needed = next(o for o in OPTIONS if o.name == "api_key")
        raise ConfigError(f"a live target needs a full-scope key: pass {given_label(needed)} or set {needed.env}")
    _check_vendor_level(options)
    return options
