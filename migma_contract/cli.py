"""The `migma-contract` command line: thin wrappers that parse options and call the library.

Exit codes (all commands): 0 conformant / usable, 1 violations found (or, for `lint`, a
document with errors), 2 usage or configuration error (or an unreadable document),
3 target unreachable or run aborted.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import gc
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from migma_contract._version import __version__
from migma_contract.config.options import ENV_PREFIX, OPTIONS, resolve_options, user_redactor, user_secrets
from migma_contract.contract.catalogue import VENDOR_SETS, rules_for
from migma_contract.contract.rules import Level, RuleSet
from migma_contract.core.exceptions import MigmaContractError, SpecError, Terminated
from migma_contract.core.flags import spelled
from migma_contract.core.redact import Redactor, strip_credentials
from migma_contract.core.untrusted import clean_text
from migma_contract.document.spec import load_spec

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

LEVEL_CHOICE = click.Choice([level.value for level in Level])


# The redactor of the command running (`friendly_errors` sets it from its arguments and the environment):
# every error and warning line goes through it, whichever command says it.
_MASK: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar("migma_contract_cli_mask", default=None)


def _masked(message: str) -> str:
    """An error or warning as shown: keys masked, and cleaned (no control character, no CI workflow command)."""
    mask = _MASK.get() or user_redactor()
    return clean_text(mask.text(message), multiline=True)


def say(value: object, *, err: bool = False, multiline: bool = False) -> None:
    """Print a line (or, `multiline`, lines) to the terminal: every command's output goes through here, `fail` or
    `_warn`, so no text from a file, a server or a path (a document's pointer, a mock world's key, a resolved report
    folder) writes a terminal escape or starts a CI workflow command (`::add-mask::`, `::error`) (pass V4, F2)."""
    click.echo(clean_text(value, multiline=multiline), err=err)


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"migma-contract: error: {_masked(message)}", err=True)
    sys.exit(code)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the toolkit's own errors into one line and their exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        redactor = user_redactor(kwargs)  # every key given to this command or in its environment
        token = _MASK.set(redactor)
        try:
            return func(*args, **kwargs)
        except SpecError as exc:  # `lint` reports documents itself; elsewhere a bad one is a usage error
            fail(clean_text(redactor.text(str(exc))), 2)
        except MigmaContractError as exc:
            fail(clean_text(redactor.text(str(exc))), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 3)
        except Exception as exc:  # a bug: still one line, still no key
            if os.environ.get("MIGMA_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {clean_text(redactor.text(str(exc)))[:300]}); "
                 "rerun with MIGMA_DEBUG=1 for the traceback and report it", 3)
        finally:
            _MASK.reset(token)

    return wrapper


class _Cli(click.Group):
    """Usage errors as one line (what is wrong, where the help is), exit 2; no traceback."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:  # click's own handling is replaced (standalone_mode is always off), so the message is ours
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "migma-contract"
            click.echo(f"migma-contract: error: {_masked(exc.format_message())} (see '{clean_text(where)} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"migma-contract: error: {_masked(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("migma-contract: interrupted", err=True)
            sys.exit(3)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="migma-contract")
def main() -> None:
    """Contract tests for the Migma.ai send endpoint, POST /v1/sending.

    Exit codes: 0 conformant, 1 violations found, 2 usage or configuration error,
    3 target unreachable or run aborted.
    """


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def lint(path: Path | None) -> None:
    """Check an OpenAPI document and show what the loader repairs.

    PATH defaults to the vendor's document bundled with the toolkit. Exit 0 when the
    document is usable, 1 when it has errors, 2 when it cannot be read.
    """
    from migma_contract.contract.validators import contract_for

    try:
        spec = load_spec(path, full_validation=True)
        contract_for(spec)  # every schema compiled as the validators will: one they cannot compile is an error here
    except SpecError as exc:
        say(f"{exc.path}: NOT USABLE")
        say(f"  error: {exc.detail}")
        if exc.pointer is not None or exc.line is not None:
            place = ", ".join(p for p in (f"line {exc.line}" if exc.line else "", f"at {exc.pointer or '/'}" if exc.pointer is not None else "") if p)
            say(f"  where: {place}")
        sys.exit(exc.exit_code)
    say(f"{spec.source} ({spec.fingerprint})")
    say(f"OpenAPI {spec.version}: POST /v1/sending found, document usable")
    say(f"repairs applied ({len(spec.repairs)}):")
    for repair in spec.repairs:
        say(f"  - {repair.describe()}")
    if not spec.repairs:
        say("  (none)")
    say(f"notes ({len(spec.notes)}):")
    for note in spec.notes:
        say(f"  - {note.pointer}: {note.message}")


@main.command()
@click.option("--level", type=LEVEL_CHOICE, default=Level.STRICT.value, show_default=True,
              help="List the rules a run at this level checks (each level includes the ones before it).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def rules(level: str, as_json: bool) -> None:
    """List the rule catalogue: ids, levels, what each rule says and where it comes from.

    The vendor set (judged only with `check --with-vendor`) is listed after the contract's rules.
    """
    selected = rules_for(level, VENDOR_SETS)
    if as_json:
        say(json.dumps([rule.as_dict() for rule in selected], indent=2, ensure_ascii=False), multiline=True)
        return
    width = max(len(rule.id) for rule in selected)
    for rule in selected:
        opt_in = " (vendor set: --with-vendor)" if rule.set is RuleSet.VENDOR else ""
        say(f"{rule.id:<{width}}  {rule.level.value:<10}  {rule.constrains:<8}  {rule.text}{opt_in}")
        say(f"{'':<{width}}  {'':<10}  {'':<8}  source: {rule.source}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", default=4010, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="World to model (keys, domains, emails, lists, faults), YAML or JSON; see mock/default.yaml.")
@click.option("--http", "stack", type=click.Choice(["httptools", "h11"]), default=None,
              help="HTTP parser: httptools (C, about twice the requests a second; the default where installed) or h11 (pure Python).")
@friendly_errors
def mock(host: str, port: int, config_path: Path | None, stack: str | None) -> None:
    """Serve the reference mock of POST /v1/sending until Ctrl-C."""
    import ipaddress

    import uvicorn

    from migma_contract.mock import create_app
    from migma_contract.wire.serve import DEFAULT_STACK, PROTOCOLS, bind_socket, server_config, stack_description, url_of

    stack = stack or DEFAULT_STACK
    if stack not in PROTOCOLS:
        fail(f"--http {stack}: not installed here; pip install httptools, or use --http h11", 2)
    app = create_app(config_path)
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        _warn(f"--host {clean_text(host)} listens beyond this machine: anyone who can reach it can send through the "
              "mock, and /_mock/sent lists every recipient (/_mock answers only a loopback Host unless "
              "inspection.allowed_hosts in --config says otherwise)")
    try:
        sock = bind_socket(host.strip("[]"), port)
    except (OSError, OverflowError) as exc:
        fail(f"cannot listen on {clean_text(host)}:{port}: {getattr(exc, 'strerror', None) or exc}; pick another --host or --port", 2)
    url = url_of(sock)
    config = app.config
    say(f"migma-contract mock: serving POST /v1/sending at {url}")
    say(f"  full-scope key:   {config.full_key}")
    if config.restricted_key:
        say(f"  restricted key:   {config.restricted_key}   (no email:send -> 403)")
    if config.second_full_key:
        say(f"  second full key:  {config.second_full_key}   (Idempotency-Keys are scoped per API key)")
    say(f"  verified domains: {', '.join(sorted(config.verified_domains))}")
    say(f"  inspect:          GET {url}/_mock/sent   GET {url}/_mock/requests   reset: POST {url}/_mock/reset")
    say(f"  server:           {stack_description(stack)}")
    say("Press Ctrl-C to stop.")
    sys.stdout.flush()
    server = uvicorn.Server(server_config(app, max_connections=config.max_connections, request_timeout=config.request_timeout,
                                          stack=stack))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    say("migma-contract mock: stopped")


def _formats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    option = next(o for o in OPTIONS if o.name == "format")
    try:
        formats: tuple[str, ...] = option.parse(value, "--format")
        return formats
    except MigmaContractError as exc:
        raise click.BadParameter(str(exc).removeprefix("--format: ")) from None


def _rows_of(*names: str, spellings: dict[str, str] | None = None) -> Callable[[F], F]:
    """One click option per row of the options table (all rows, or these), parsed later in one place with the
    other sources (`resolve_options`); `spellings` renames the flags their help texts name for this command
    (the proxy's target is `--upstream`, not `--base-url`)."""
    rows = [option for option in OPTIONS if not names or option.name in names]

    def decorate(func: F) -> F:
        for option in reversed(rows):
            shown = ",".join(option.default) if isinstance(option.default, tuple) else option.default
            default = "" if option.default in (None, ()) else f"; default: {shown}"
            where = " (not read from files)" if option.secret else ""
            text = f"{option.help_for(spellings)} [env: {option.env}{default}]{where}"
            if option.kind == "bool" and option.negate:
                func = click.option(f"{option.flag_name}/--{option.negate}", option.name, default=None, help=text)(func)
            elif option.kind == "bool":
                func = click.option(option.flag_name, option.name, is_flag=True, default=None, help=text)(func)
            else:
                metavar = option.kind.upper() if option.kind != "choice" else "|".join(option.choices)
                func = click.option(option.flag_name, option.name, default=None, multiple=option.kind == "list",
                                    help=text, metavar=metavar)(func)
        return func

    return decorate


def _warn(message: str) -> None:
    click.echo(f"migma-contract: warning: {_masked(message)}", err=True)


@main.command()
@_rows_of()
@click.option("--dry-run", is_flag=True, help="Print the plan and send nothing.")
@friendly_errors
def check(dry_run: bool, **given: Any) -> None:
    """Check a server (or the embedded reference mock) against the contract.

    Prints a per-rule table and writes reports under --report-dir. Settings also come
    from the environment (MIGMA_CONTRACT_*) and from [tool.migma-contract] in
    pyproject.toml (keys: the long option names, e.g. max-requests = 150); command-line
    options win. Exit 0 conformant, 1 violations, 2 usage, 3 unreachable or aborted.
    """
    from migma_contract.reports import check_writable, write_baseline, write_reports
    from migma_contract.reports.console import Progress, print_plan, print_summary
    from migma_contract.run.runner import prepare_run, run_check

    options = resolve_options(given, warn=_warn)
    # Hypothesis keeps caches in ./.hypothesis unless told otherwise: a check leaves none behind.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "migma-contract-hypothesis"))
    # Nor do its plugins run: what a check sends depends on its seed, not on which packages hook
    # Hypothesis's import (a hook may load a settings profile); and the scan of every installed
    # distribution's entry points that finds them is ~10 ms of the check's CPU, more in a large environment.
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
    if dry_run:
        print_plan(prepare_run(options).plan)
        return
    report_dir = Path(options.report_dir)
    check_writable(report_dir)
    if options.write_baseline:  # before the first request, like the reports
        written = Path(options.write_baseline)
        check_writable(written.parent, names=[written.name], option="--write-baseline", step_summary=False)
    if not options.verify_tls:
        _warn("TLS certificates are NOT verified (--insecure); the report says so")
    shown = strip_credentials(options.base_url) if options.base_url else "the embedded reference mock"
    vendor = ", with the vendor set" if options.with_vendor else ""
    say(f"migma-contract {__version__}: checking {clean_text(shown)} at level {options.level}{vendor} "
        f"(seed {options.seed}, the {options.plan} plan, at most {options.max_requests} requests)", err=True)
    progress = Progress()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a CI timeout: the reports of what ran, as for Ctrl-C
    try:
        result = run_check(options, progress=progress, keep_interrupted=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.stop()
    secrets = user_secrets(options, given)
    paths = write_reports(result, report_dir, options.format, secrets=secrets)
    if options.write_baseline:
        paths.append(write_baseline(result, options.write_baseline, secrets))
    print_summary(result, [str(p) for p in paths], secrets=secrets)
    sys.exit(result.exit_code)


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "formats", default="html,md", show_default=True, callback=_formats,
              help="Formats to render (one result: any of json,junit,md,html; several: md,html).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write into (default: beside the first result).")
@click.option("--name", "names", multiple=True, help="Names for the implementations, in order (default: each run's target).")
@friendly_errors
def report(results: tuple[Path, ...], formats: tuple[str, ...], out_dir: Path | None, names: tuple[str, ...]) -> None:
    """Re-render reports from saved conformance.json files.

    One file: re-renders it (e.g. --format html writes index.html). Several files: one
    rule x implementation matrix (comparison.md, comparison.html) with each one's compliance.
    Each file is checked against the shipped schema first; a bad one is one line, exit 2.
    """
    from migma_contract.reports import FILENAMES, check_writable, load_result, render, write_file
    from migma_contract.reports._compare import render_comparison

    if len(results) > 1:
        if names and len(names) != len(results):
            fail(f"--name given {len(names)} time(s) for {len(results)} results; give one per result or none", 2)
        unsupported = [f for f in formats if f not in ("md", "html")]
        if unsupported:
            fail(f"a comparison renders md and html, not {', '.join(unsupported)}", 2)
    secrets = user_secrets()  # masked if a file holds one
    loaded = [load_result(path) for path in results]
    out = out_dir or results[0].parent
    if len(loaded) == 1:
        pages = {FILENAMES[fmt]: render(loaded[0], fmt, secrets) for fmt in formats}
    else:
        labels = list(names) or _distinct([str(r.target.label or p.stem) for r, p in zip(loaded, results, strict=True)], results)
        pairs = list(zip(labels, loaded, strict=True))
        pages = {f"comparison.{fmt}": render_comparison(pairs, fmt, secrets) for fmt in formats}
    check_writable(out, names=list(pages), option="--out", step_summary=False)
    for name, page in pages.items():
        write_file(out / name, page)
        say(f"wrote {clean_text(out / name)}")


def _distinct(labels: list[str], paths: tuple[Path, ...]) -> list[str]:
    """Target labels, made unique with the file name where two runs share one."""
    return [f"{label} ({path.parent.name or path.name})" if labels.count(label) > 1 else label for label, path in zip(labels, paths, strict=True)]


@main.command()
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True,
              help="Output: a console table, Markdown (for a pull request), or JSON.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the output to this file instead of stdout.")
@friendly_errors
def diff(old: Path, new: Path, fmt: str, out: Path | None) -> None:
    """What a new version of the vendor's document changes, rule by rule and field by field.

    Loads OLD and NEW with the same loader as every command, evaluates each rule of the
    catalogue on both, compares the request and response schemas and the documented
    statuses, and lists rules whose quoted source text is gone from NEW. Each change says
    whom it breaks: clients, servers, or neither. Exit 1 when something breaks clients (a
    CI gate for vendor updates), 0 otherwise, 2 when a document cannot be used.
    """
    from migma_contract.diff.compare import diff_documents
    from migma_contract.diff.render import render

    result = diff_documents(old, new)
    if out is None:
        render(result, fmt, sys.stdout)
    else:
        try:
            with out.open("w", encoding="utf-8") as stream:
                render(result, fmt, stream, width=120)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", 2)
        say(f"wrote {out}", err=True)
        say(result.headline, err=True)
    sys.exit(result.exit_code)


@main.command("spec")
@click.option("--path", "show_path", is_flag=True, help="Print only where the file is (e.g. for Schemathesis).")
def spec_command(show_path: bool) -> None:
    """Print the bundled OpenAPI document (the vendor's, byte for byte), or with --path its location.

    For other tools: schemathesis run "$(migma-contract spec --path)" --url http://127.0.0.1:4010
    """
    from migma_contract.document.spec import bundled_spec_path

    path = bundled_spec_path()
    if show_path:
        say(path)
    else:  # the bundled document, byte for byte (the package's own file, not one handed in)
        click.echo(path.read_bytes(), nl=False)



# --- judging real traffic: proxy, judge ------------------------------------------------------------------

TRAFFIC_OPTIONS = ("level", "report_dir", "format", "baseline", "spec", "timeout")


def _traffic_summary(result: Any, paths: list[Path], secrets: Sequence[str]) -> None:
    from migma_contract.reports.console import print_summary

    print_summary(result, [str(p) for p in paths], secrets=secrets)


def _interrupt(signum: int, frame: Any) -> None:
    raise Terminated


class _PeriodicReports:
    """Writes the reports every `interval` seconds from a daemon thread, until stopped."""

    def __init__(self, interval: float, write: Callable[[], object]) -> None:
        import threading

        self.interval, self.write = interval, write
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="migma-contract-reports", daemon=True)

    def start(self) -> _PeriodicReports:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.write()
            except Exception as exc:  # a full disk must not take the proxy down; the final write reports it
                _warn(f"could not write the periodic reports: {clean_text(exc)}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _reachable(url: str, timeout: float) -> str | None:
    """Why nothing listens at `url` (None when a TCP connection opens)."""
    import socket
    from urllib.parse import urlsplit

    from migma_contract.wire.urls import lookup_host

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:  # the host as the proxy connects to it (IDNA-encoded as httpx does; `check_url` refused one that cannot be)
        socket.create_connection((lookup_host(url), port), timeout=min(timeout, 5.0)).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    except UnicodeError as exc:  # (the codec of a lookup: a host `check_url` let through would be a bug, said plainly)
        return f"its host cannot be looked up ({clean_text(exc)})"
    return None


@main.command()
@click.option("--upstream", required=True, metavar="URL", envvar=f"{ENV_PREFIX}UPSTREAM", show_envvar=True,
              help="The API to forward to (a staging server, the mock). Credentials in it (http://user:password@...) "
                   "are better given in the environment variable: a command line is visible to every process; "
                   "whoever can reach the proxy's port sends with them.")
@click.option("--port", default=4011, show_default=True, type=click.IntRange(0, 65535), help="Loopback port to listen on (0: any free port).")
@click.option("--report-every", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Also write the reports every this many seconds while serving.")
@_rows_of(*TRAFFIC_OPTIONS, "allow_production", "insecure",
          spellings={"--base-url": "--upstream", "--write-baseline": "check --write-baseline"})
@friendly_errors
def proxy(upstream: str, port: int, report_every: float | None, **given: Any) -> None:
    """Forward traffic to --upstream unchanged and judge POST /v1/sending both ways.

    Point your client at the printed URL instead of the API: every request goes to the
    upstream as it came, every answer back as it came. The request is judged as a
    consumer's (does the client break a request rule?), the response as a provider's (a
    response rule, and the status the request deserved). Each violation is printed as it
    happens, keys redacted; the usual reports are written on Ctrl-C (and every
    --report-every seconds). Keys pass through and are never written. Exit 0 no violation
    observed, 1 violations, 2 usage, 3 upstream unreachable at start or a send not judged
    in full (no verdict).
    """

    import uvicorn

    from migma_contract.contract.validators import contract_for
    from migma_contract.core.exceptions import TargetUnreachable
    from migma_contract.reports import check_writable, write_reports
    from migma_contract.run.runner import load_baseline
    from migma_contract.traffic.proxy import TrafficProxy, upstream_url
    from migma_contract.traffic.tally import TrafficJudge
    from migma_contract.wire.serve import bind_socket, server_config, url_of
    from migma_contract.wire.urls import guard_production

    # the proxy judges the upstream, and its clients' keys (and the upstream's credentials) pass through it whatever the
    # environment holds: a repository's file is held to what it may choose for a check of a live target with a key
    options = resolve_options(given, only=(*TRAFFIC_OPTIONS, "allow_production", "insecure"), warn=_warn,
                              target="the upstream", carries="a proxy, which carries its clients' keys and the upstream's credentials")
    from_env = click.get_current_context().get_parameter_source("upstream") == click.core.ParameterSource.ENVIRONMENT
    named = f"{ENV_PREFIX}UPSTREAM" if from_env else "--upstream"  # what a message about it names: where the user set it
    upstream = next(o for o in OPTIONS if o.name == "base_url").parse(upstream, named)
    with spelled({"--upstream": named}):
        shown = upstream_url(upstream)  # what requests reach (its path percent-encoded), without the credentials; or exit 2
    spec = load_spec(options.spec)
    guard_production(upstream, spec.servers, allowed=options.allow_production)
    baseline = load_baseline(options.baseline)
    report_dir = Path(options.report_dir)
    check_writable(report_dir, options.format)
    why = _reachable(upstream, options.timeout)
    if why is not None:
        raise TargetUnreachable(f"cannot reach the upstream {shown}: {why}")
    try:
        sock = bind_socket("127.0.0.1", port)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; pick another --port", 2)
    secrets = user_secrets(options, given)  # the user's own keys: the judge masks them from the first exchange on
    judge = TrafficJudge(contract_for(spec), options.level, kind="proxy", label=f"proxy in front of {shown}", url=shown,
                         timeout=options.timeout, baseline=baseline, on_breach=lambda line: say(line, err=True),
                         secrets=secrets)
    app = TrafficProxy(upstream, judge, timeout=options.timeout, verify_tls=options.verify_tls,
                       max_response_bytes=next(o for o in OPTIONS if o.name == "max_response_bytes").default)

    def write() -> list[Path]:
        result = judge.result()  # the count said is the count written (the judge goes on in the serving thread)
        paths = write_reports(result, report_dir, options.format, secrets=secrets)
        judged = result.traffic.judged if result.traffic is not None else 0
        say(f"migma-contract proxy: reports written to {report_dir} ({judged} exchange(s) judged)", err=True)
        return paths

    say(f"migma-contract proxy: listening on {url_of(sock)}, forwarding to {clean_text(shown)}")
    say(f"  judging POST /v1/sending at level {options.level}; reports to {report_dir} on Ctrl-C"
        + (f" and every {report_every:g} s" if report_every else ""))
    sys.stdout.flush()
    if not options.verify_tls:
        _warn("TLS certificates of the upstream are NOT verified (--insecure)")
    periodic = _PeriodicReports(report_every, write).start() if report_every else None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # the mock's bounded configuration: a deadline per request, a cap on connections, a bounded head, no trailers
    server = uvicorn.Server(server_config(app, server_header=False, date_header=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        if periodic is not None:
            periodic.stop()
    result = judge.result()
    paths = write_reports(result, report_dir, options.format, secrets=secrets)
    _traffic_summary(result, paths, secrets)
    sys.exit(result.exit_code)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_rows_of(*TRAFFIC_OPTIONS, spellings={"--write-baseline": "check --write-baseline"})
@friendly_errors
def judge(files: tuple[Path, ...], **given: Any) -> None:
    """Judge recorded traffic: HAR 1.2 files and VCR cassettes (Schemathesis, vcrpy).

    Each file's format is told by its content. Every POST /v1/sending exchange is judged
    as the proxy judges live traffic; exchanges for other paths are counted and skipped.
    Files stream (memory holds one exchange); a file that ends early is judged as far as it
    goes, and the report says where it stopped. Exit 0 no violation observed, 1 violations,
    2 unreadable or unrecognised input, 3 a send not judged in full (no verdict).
    """
    from migma_contract.contract.validators import contract_for
    from migma_contract.reports import check_writable, write_reports
    from migma_contract.run.runner import interruption, load_baseline
    from migma_contract.traffic.recordings import MAX_KEPT_SKIPS, open_recording
    from migma_contract.traffic.tally import TrafficJudge
    from migma_contract.traffic.twins import MAYBE, SAME, Twins

    # recordings of the user's server: a repository's file does not lower what counts (level, baseline, spec, timeout),
    # whatever the environment holds: a CI job judging recordings sets no key, and reads the exit code, not the headline
    options = resolve_options(given, only=TRAFFIC_OPTIONS, warn=_warn, target="recorded traffic",
                              carries="`judge`, whose verdict is on the user's recordings")
    recordings = []  # every file recognised before any is judged; one given twice (a glob and its name) judged once
    files_seen: set[tuple[int, int]] = set()
    for path in files:
        recording = open_recording(path)
        try:
            found = recording.path.stat()
        except OSError:
            recordings.append(recording)
            continue
        if (found.st_dev, found.st_ino) in files_seen:
            _warn(f"{clean_text(path)}: given more than once; judged once")
            continue
        files_seen.add((found.st_dev, found.st_ino))
        recordings.append(recording)
    baseline = load_baseline(options.baseline)
    report_dir = Path(options.report_dir)
    check_writable(report_dir, options.format)
    names = ", ".join(clean_text(r.path.name) for r in recordings)
    label = f"recorded traffic: {names}" if len(names) <= 80 else f"recorded traffic: {len(recordings)} files"
    secrets = user_secrets(options, given)  # the user's own keys, which a recording may hold or a server echo
    judge = TrafficJudge(contract_for(load_spec(options.spec)), options.level, kind="recorded", label=label,
                         source=f"recorded: {names}", timeout=options.timeout, baseline=baseline, secrets=secrets)
    stopped = None
    failed = 0  # exchanges the judge could not take: each noted, the first few also on the console
    # What the console says of the recordings waits until every file is read, then goes through the run's redactor
    # with every credential learned (each item's own among them: a recorder's error may quote its key), as the
    # reports do (Pass Y2, F3); bounded: `MAX_KEPT_SKIPS` items a file and a few lines more.
    console: list[tuple[bool, str]] = []  # (a warning, the line)

    def warn_later(line: str) -> None:
        console.append((True, line))

    previous = signal.signal(signal.SIGTERM, _interrupt)  # a CI timeout: the reports of what was judged, as for Ctrl-C
    # one exchange in two files (Schemathesis' `--report vcr,har`, a proxy's HAR beside a client's cassette) judged once
    twins = Twins() if len(recordings) > 1 else None
    try:
        for number, recording in enumerate(recordings):
            again = 0
            # every recorded request's credentials learned as read (any path, any item, judged or not), as the proxy
            # learns every request's: an answer echoing one, or a note quoting it, is masked (Pass Y2, F2)
            for exchange in recording.exchanges(learn=judge.learn_now):
                seen = twins.seen(exchange, number) if twins is not None else None
                if seen == SAME:  # counted once; what this copy shows beyond the copies judged before it is judged
                    assert twins is not None
                    again += 1
                    try:
                        twins.shown = judge.observe_copy(exchange, twins.shown)
                    except Exception as exc:  # (as below: never costs the others, no green verdict on it)
                        judge.pass_unjudged(f"{exchange.where}: could not be judged ({type(exc).__name__}); please report it")
                    continue
                if seen == MAYBE:
                    exchange.twin = "a file judged before it"
                try:
                    verdict = judge.observe(exchange)
                    if exchange.passed is not None:  # (no endpoint answered it: said on the console as a skipped item)
                        warn_later(exchange.passed)
                    if twins is not None:
                        twins.shown = judge.shown(exchange, verdict)
                except Exception as exc:  # one exchange the judge cannot take never costs the others
                    failed += 1
                    # counted unjudged, as the proxy's and the middleware's worker count it: no green verdict rests on it
                    judge.pass_unjudged(f"{exchange.where}: could not be judged ({type(exc).__name__}); please report it")
                    if failed <= MAX_KEPT_SKIPS:
                        warn_later(f"{exchange.where}: could not be judged ({type(exc).__name__}); please report it")
            console.append((False, f"{recording.path}: {recording.format}, {recording.items} exchange(s)"))
            if again:
                judge.note(f"{recording.path.name}: {again:,} exchange(s) also in a file judged before it (the same "
                           "request line, status, answer and start time): judged and counted once")
            for note in recording.notes:
                warn_later(note)
                judge.note(note)
            # an item left out, or a file that stops early, may have held a send: no green verdict rests on it
            for skipped in recording.skipped:
                warn_later(skipped)
                judge.pass_unjudged(skipped)
            if recording.skipped_more:  # a file of countless broken items: counted, never a line (or a note) each
                more = (f"{recording.path.name}: {recording.skipped_more:,} more item(s) not judged, past the "
                        f"{len(recording.skipped)} said above")
                warn_later(more)
                judge.pass_unjudged(more, count=recording.skipped_more)
            if recording.stopped:
                warn_later(f"{recording.path}: {recording.stopped}")
                judge.pass_unjudged(f"{recording.path.name}: {recording.stopped}", seen=False)
        if failed > MAX_KEPT_SKIPS:
            warn_later(f"{failed - MAX_KEPT_SKIPS:,} more exchange(s) could not be judged, past the {MAX_KEPT_SKIPS} said above")
    except KeyboardInterrupt as stop:
        stopped = f"{interruption(stop)} after {judge.stats.exchanges} recorded exchange(s); the reports hold what was judged"
    finally:
        signal.signal(signal.SIGTERM, previous)
        for warning, line in console:  # every console line through the run's redactor, every credential learned
            shown = clean_text(judge.redacted(line))
            if warning:
                _warn(shown)
            else:
                say(shown, err=True)
    if not judge.stats.judged:
        if not stopped and judge.stats.unjudged:  # a file that stopped, or items left unread: they may have held sends
            stopped = (f"no POST /v1/sending exchange judged: {judge.stats.unjudged} file part(s) or exchange(s) were "
                       "not read or passed unjudged (the warnings above say why); nothing to judge")
        fail(stopped or f"no POST /v1/sending exchange in the {judge.stats.exchanges} recorded exchange(s); nothing to judge",
             3 if stopped else 2)
    result = judge.result()
    if stopped:
        result.interrupted_by(stopped)
    paths = write_reports(result, report_dir, options.format, secrets=secrets)
    _traffic_summary(result, paths, secrets)
    sys.exit(result.exit_code)


_COMMAND_GC_THRESHOLDS = (50_000, 20, 20)  # the console script's (see `run`); the library keeps Python's


def run(args: list[str] | None = None) -> NoReturn:
    """The console script (and `python -m migma_contract.cli`): the command, then the process ends.

    (And httpx is imported without its own command line: see below.)

    Once the command is done its reports are written and closed; tearing the interpreter
    down after that (collecting every object of Hypothesis, Schemathesis, the document...)
    was 18% of the default check's time, and nothing a user sees. So the exit handlers run
    (logging's flush among them), stdout and stderr are flushed, and the process ends with
    the command's exit code, without the teardown. Not while a non-daemon thread still
    works (the normal shutdown waits for it), and only here: `main` called in-process
    (tests, CliRunner, embedding) returns or raises SystemExit as before.
    """
    # httpx's package imports its own command line (httpx._main: Rich's progress bars and
    # tables, Pygments' lexers) whenever click, rich and pygments are installed, as they are
    # here: ~40 ms of CPU in every run, for a command line this process never runs. Declared
    # absent, httpx keeps its stub `main` and the rest of it is unchanged.
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    # A command is one short process that builds a few hundred thousand objects which live as
    # long as it does (the modules a check imports: Hypothesis, httpx, the catalogue) and
    # frees what it makes per request by reference counting. With the default thresholds
    # (700, 10, 10) the collector walks those long-lived objects again and again: ~10 ms of
    # a default check's CPU, sometimes a full collection of ~20 ms. The young generation is
    # collected every 50,000 allocations instead (a batch job's setting, as mypy's): at most
    # that many objects wait, a few MB; nothing the check sends or decides depends on it.
    gc.set_threshold(*_COMMAND_GC_THRESHOLDS)
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # what SystemExit does with a message: print it, exit 1
        print(clean_text(code, multiline=True), file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: as Python's own shutdown reports it
            status = status or 120
    os._exit(status)


if __name__ == "__main__":
    run()
