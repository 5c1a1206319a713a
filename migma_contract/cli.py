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
