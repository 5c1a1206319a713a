"""The reference mock of POST /v1/sending: `create_app(config)` gives an ASGI app.

    from migma_contract.mock import create_app
    mock = create_app()                     # the built-in world (see default.yaml)
    with mock.running() as url:             # or in-process: httpx.ASGITransport(app=mock)
        ...
    mock.sent                               # what it accepted
    mock.requests, mock.rejected            # every request with its verdict; those breaking the contract
    mock.configure(faults={"failure_rate": 1.0}); mock.fail_next(503, times=2)
"""

from typing import TYPE_CHECKING, Any

from migma_contract.mock._config import Contact, MockConfig, load_mock_config
from migma_contract.mock._state import MockRequest, SentRecord

if TYPE_CHECKING:
    from migma_contract.mock._app import ReferenceMock, create_app


def __getattr__(name: str) -> Any:
    # The app (Starlette) is loaded on first use: reading a world's keys and fixtures, as
    # `check --dry-run` does, needs only the configuration.
    if name in ("ReferenceMock", "create_app"):
        from migma_contract.mock import _app

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Contact", "MockConfig", "MockRequest", "ReferenceMock", "SentRecord", "create_app", "load_mock_config"]
