"""The `migma-contract` command line: thin wrappers that parse options and call the library.

Exit codes (all commands): 0 conformant / usable, 1 violations found (or, for `lint`, a
document with errors), 2 usage or configuration error (or an unreadable document),
3 target unreachable or run aborted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._catalogue import rules_for
from ._exceptions import MigmaContractError, SpecError
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
        try:
            return func(*args, **kwargs)
        except MigmaContractError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 3)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
        spec = load_spec(path)
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


if __name__ == "__main__":
    main()
