"""The reference mock of POST /v1/sending: `create_app(config)` gives an ASGI app.

    from migma_contract.mock import create_app
    mock = create_app()                     # the built-in world (see default.yaml)
    with mock.running() as url:             # or in-process: httpx.ASGITransport(app=mock)
        ...
    mock.sent                               # what it accepted
    mock.requests, mock.rejected            # every request with its verdict; those breaking the contract
    mock.configure(faults={"failure_rate": 1.0}); mock.fail_next(503, times=2)
"""

from ._app import ReferenceMock, create_app
from ._config import Contact, MockConfig, load_mock_config
from ._state import MockRequest, SentRecord

__all__ = ["Contact", "MockConfig", "MockRequest", "ReferenceMock", "SentRecord", "create_app", "load_mock_config"]
