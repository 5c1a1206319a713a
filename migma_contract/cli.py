"""The `migma-contract` command line: thin wrappers that parse options and call the library.

Exit codes (all commands): 0 conformant / usable, 1 violations found (or, for `lint`, a
document with errors), 2 usage or configuration error (or an unreadable document),
3 target unreachable or run aborted.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._catalogue import rules_for
from ._exceptions import MigmaContractError, SpecError
from ._redact import Redactor
from ._rules import Level
from ._spec import load_spec
from ._version import __version__

F = TypeVar("F", bound=Callable[..., Any])

LEVEL_CHOICE = click.Choice([level.value for level in Level])


def fail(message: str, code: int) -> None:
    click.echo(f"migma-contract: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Turn the toolkit's own errors into one line and their exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        redactor = Redactor([kwargs.get("api_key"), kwargs.get("restricted_api_key"),
                             os.environ.get("MIGMA_API_KEY"), os.environ.get("MIGMA_RESTRICTED_API_KEY")])
        try:
            return func(*args, **kwargs)
        except SpecError as exc:  # `lint` reports documents itself; elsewhere a bad one is a usage error
            fail(redactor.text(str(exc)), 2)
        except MigmaContractError as exc:
            fail(redactor.text(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 3)
        except Exception as exc:  # a bug: still one line, still no key
            if os.environ.get("MIGMA_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {redactor.text(str(exc))[:300]}); "
                 "rerun with MIGMA_DEBUG=1 for the traceback and report it", 3)

    return wrapper  # type: ignore[return-value]


class _Cli(click.Group):
    """Usage errors as one line (what is wrong, where the help is), exit 2; no traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "migma-contract"
            click.echo(f"migma-contract: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"migma-contract: error: {exc.format_message()}", err=True)
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
    try:
        spec = load_spec(path, full_validation=True)
    except SpecError as exc:
        click.echo(f"{exc.path}: NOT USABLE")
        click.echo(f"  error: {exc.detail}")
        if exc.pointer is not None or exc.line is not None:
            place = ", ".join(p for p in (f"line {exc.line}" if exc.line else "", f"at {exc.pointer or '/'}" if exc.pointer is not None else "") if p)
            click.echo(f"  where: {place}")
        sys.exit(exc.exit_code)
    click.echo(f"{spec.source} ({spec.fingerprint})")
    click.echo(f"OpenAPI {spec.version}: POST /v1/sending found, document usable")
    click.echo(f"repairs applied ({len(spec.repairs)}):")
    for repair in spec.repairs:
        click.echo(f"  - {repair.describe()}")
    if not spec.repairs:
        click.echo("  (none)")
    click.echo(f"notes ({len(spec.notes)}):")
    for note in spec.notes:
        click.echo(f"  - {note.pointer}: {note.message}")


@main.command()
@click.option("--level", type=LEVEL_CHOICE, default=Level.STRICT.value, show_default=True,
              help="List the rules a run at this level checks (each level includes the ones before it).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def rules(level: str, as_json: bool) -> None:
    """List the rule catalogue: ids, levels, what each rule says and where it comes from."""
    selected = rules_for(level)
    if as_json:
        click.echo(json.dumps([rule.as_dict() for rule in selected], indent=2, ensure_ascii=False))
        return
    width = max(len(rule.id) for rule in selected)
    for rule in selected:
        click.echo(f"{rule.id:<{width}}  {rule.level.value:<10}  {rule.constrains:<8}  {rule.text}")
        click.echo(f"{'':<{width}}  {'':<10}  {'':<8}  source: {rule.source}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", default=4010, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="World to model (keys, domains, emails, lists, faults), YAML or JSON; see mock/default.yaml.")
@friendly_errors
def mock(host: str, port: int, config_path: Path | None) -> None:
    """Serve the reference mock of POST /v1/sending until Ctrl-C."""
    import uvicorn

    from ._serve import bind_socket, url_of
    from .mock import create_app

    app = create_app(config_path)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port", 2)
    url = url_of(sock)
    config = app.config
    click.echo(f"migma-contract mock: serving POST /v1/sending at {url}")
    click.echo(f"  full-scope key:   {config.full_key}")
    if config.restricted_key:
        click.echo(f"  restricted key:   {config.restricted_key}   (no email:send -> 403)")
    click.echo(f"  verified domains: {', '.join(sorted(config.verified_domains))}")
    click.echo(f"  inspect:          GET {url}/_mock/sent   reset: POST {url}/_mock/reset")
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    click.echo("migma-contract mock: stopped")


FORMATS = ("json", "junit", "md", "html")


def _formats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(f"{unknown[0] if unknown else value!r} is not a format; choose from {', '.join(FORMATS)}")
    return chosen


def _pyproject_defaults(command: click.Command) -> dict[str, Any]:
    from ._config import pyproject_settings

    known = {p.name for p in command.params if p.name and p.name not in ("api_key", "restricted_api_key")}
    return pyproject_settings(known)


@main.command()
@click.option("--base-url", envvar="MIGMA_BASE_URL", help="The server to check (default: the embedded reference mock). [env: MIGMA_BASE_URL]")
@click.option("--api-key", envvar="MIGMA_API_KEY", help="A full-scope key (email:send). [env: MIGMA_API_KEY]")
@click.option("--restricted-api-key", envvar="MIGMA_RESTRICTED_API_KEY",
              help="A valid key WITHOUT email:send, to exercise auth-scope (403). [env: MIGMA_RESTRICTED_API_KEY]")
@click.option("--level", envvar="MIGMA_LEVEL", type=LEVEL_CHOICE, default=Level.DOCUMENTED.value, show_default=True,
              help="schema: the schemas alone; documented: plus the prose; strict: plus the strictest reading.")
@click.option("--seed", envvar="MIGMA_SEED", type=int, default=0, show_default=True, help="Same seed and target, same requests.")
@click.option("--max-requests", envvar="MIGMA_MAX_REQUESTS", type=click.IntRange(1), default=180, show_default=True,
              help="Budget: requests sent in all (the plan first, exploration with the rest).")
@click.option("--max-time", envvar="MIGMA_MAX_TIME", type=click.FloatRange(min=0, min_open=True), help="Deadline for the whole run, in seconds.")
@click.option("--timeout", envvar="MIGMA_TIMEOUT", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Per request, in seconds; a slower answer is a responds-in-time finding.")
@click.option("--rate", envvar="MIGMA_RATE", type=click.FloatRange(min=0, min_open=True), help="Requests per second at most.")
@click.option("--from", "from_address", envvar="MIGMA_FROM", help="Fixture: a verified sender address of the target.")
@click.option("--email-id", envvar="MIGMA_EMAIL_ID", help="Fixture: an existing emailId.")
@click.option("--conversation-id", envvar="MIGMA_CONVERSATION_ID", help="Fixture: an existing single-email conversationId.")
@click.option("--project-id", envvar="MIGMA_PROJECT_ID", help="Fixture: the project of that email.")
@click.option("--audience-id", envvar="MIGMA_AUDIENCE_ID", help="Fixture: an audience to batch-send to.")
@click.option("--segment-id", envvar="MIGMA_SEGMENT_ID", help="Fixture: a segment to batch-send to.")
@click.option("--tag-id", envvar="MIGMA_TAG_ID", help="Fixture: a tag to batch-send to.")
@click.option("--provider", envvar="MIGMA_PROVIDERS", multiple=True, help="Fixture: a connected providerType (repeatable).")
@click.option("--recipient-domain", envvar="MIGMA_RECIPIENT_DOMAIN", default="example.com", show_default=True,
              help="Domain of generated recipients (keep it a reserved one: example.com, *.test).")
@click.option("--spec", "spec", envvar="MIGMA_SPEC", type=click.Path(dir_okay=False), help="Another OpenAPI document (default: the bundled one).")
@click.option("--report-dir", envvar="MIGMA_REPORT_DIR", type=click.Path(file_okay=False), default="reports", show_default=True)
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True, callback=_formats, help="Report formats, comma-separated.")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Known failures to accept (a conformance.json or a list of rule ids).")
@click.option("--explore/--no-explore", default=True, show_default=True, help="Spend the budget left after the plan on generated requests.")
@click.option("--dry-run", is_flag=True, help="Print the plan and send nothing.")
@click.option("--allow-production", is_flag=True, help="Allow --base-url to be the document's production server.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (said in the report).")
@click.option("--follow-redirects", is_flag=True, help="Follow redirects (credentials never go to another origin).")
@click.option("--mock-config", type=click.Path(dir_okay=False), help="World of the embedded mock (when no --base-url).")
@click.pass_context
@friendly_errors
def check(ctx: click.Context, **opts: Any) -> None:
    """Check a server (or the embedded reference mock) against the contract.

    Prints a per-rule table and writes reports under --report-dir. Settings also come
    from the environment (MIGMA_*) and from [tool.migma-contract] in pyproject.toml;
    command-line options win. Exit 0 conformant, 1 violations, 2 usage, 3 unreachable or aborted.
    """
    from ._console import Progress, print_plan, print_summary
    from ._generate import BodyFactory, Fixtures
    from ._plan import build_plan
    from ._runner import CheckOptions, load_baseline, run_check
    from .reports import write_reports

    params = {param.name: param for param in ctx.command.params}
    for name, value in _pyproject_defaults(ctx.command).items():
        if ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None):
            opts[name] = params[name].type_cast_value(ctx, value)
    fixtures = Fixtures(
        from_address=opts["from_address"], email_id=opts["email_id"], conversation_id=opts["conversation_id"],
        project_id=opts["project_id"], audience_id=opts["audience_id"], segment_id=opts["segment_id"], tag_id=opts["tag_id"],
        providers=tuple(p for value in opts["provider"] for p in value.replace(",", " ").split()) or None,
        recipient_domain=opts["recipient_domain"],
    )
    options = CheckOptions(
        base_url=opts["base_url"], api_key=opts["api_key"], restricted_key=opts["restricted_api_key"], spec_path=opts["spec"],
        level=opts["level"], seed=opts["seed"], max_requests=opts["max_requests"], max_time=opts["max_time"],
        timeout=opts["timeout"], rate=opts["rate"], fixtures=fixtures, allow_production=opts["allow_production"],
        explore=opts["explore"], baseline=load_baseline(opts["baseline"]), verify_tls=not opts["insecure"],
        follow_redirects=opts["follow_redirects"], mock_config=opts["mock_config"],
    )
    if opts["dry_run"]:
        from ._runner import resolve_for_plan

        contract, resolved = resolve_for_plan(options)
        plan = build_plan(contract, resolved.level, BodyFactory(contract.spec, resolved.fixtures),
                          api_key=resolved.api_key, restricted_key=resolved.restricted_key)
        print_plan(plan)
        return
    progress = Progress()
    if not options.verify_tls:
        click.echo("migma-contract: warning: TLS certificates are NOT verified (--insecure); the report says so", err=True)
    click.echo(f"migma-contract {__version__}: checking {(options.base_url and _safe_url(options.base_url)) or 'the embedded reference mock'} "
               f"at level {options.level} (seed {options.seed}, at most {options.max_requests} requests)", err=True)
    try:
        result = run_check(options, progress=progress)
    finally:
        progress.stop()
    paths = write_reports(result, Path(opts["report_dir"]), opts["formats"])
    print_summary(result, [str(p) for p in paths])
    sys.exit(result.exit_code)


def _safe_url(url: str) -> str:
    from ._redact import strip_credentials

    return strip_credentials(url)



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
    """
    from .reports import FILENAMES, load_result, render
    from .reports._compare import render_comparison_html, render_comparison_markdown

    loaded = [load_result(path) for path in results]
    out = out_dir or results[0].parent
    out.mkdir(parents=True, exist_ok=True)
    if len(loaded) == 1:
        for fmt in formats:
            path = out / FILENAMES[fmt]
            path.write_text(render(loaded[0], fmt), encoding="utf-8")
            click.echo(f"wrote {path}")
        return
    if names and len(names) != len(loaded):
        fail(f"--name given {len(names)} time(s) for {len(loaded)} results; give one per result or none", 2)
    labels = list(names) or _distinct([str(r.target.get("label") or p.stem) for r, p in zip(loaded, results, strict=True)], results)
    pairs = list(zip(labels, loaded, strict=True))
    unsupported = [f for f in formats if f not in ("md", "html")]
    if unsupported:
        fail(f"a comparison renders md and html, not {', '.join(unsupported)}", 2)
    for fmt in formats:
        path = out / f"comparison.{fmt}"
        path.write_text(render_comparison_markdown(pairs) if fmt == "md" else render_comparison_html(pairs), encoding="utf-8")
        click.echo(f"wrote {path}")


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
    from ._diff import diff_documents
    from ._diff_render import render

    result = diff_documents(old, new)
    if out is None:
        render(result, fmt, sys.stdout)
    else:
        try:
            with out.open("w", encoding="utf-8") as stream:
                render(result, fmt, stream, width=120)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", 2)
        click.echo(f"wrote {out}", err=True)
        click.echo(result.headline, err=True)
    sys.exit(result.exit_code)


if __name__ == "__main__":
    main()
