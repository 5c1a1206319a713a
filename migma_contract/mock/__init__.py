"""The reference mock of POST /v1/sending: `create_app(config)` gives an ASGI app.

    from migma_contract.mock import create_app
    mock = create_app()                     # the built-in world (see default.yaml)
    with mock.running() as url:             # or in-process: httpx.ASGITransport(app=mock)
        ...
    mock.sent                               # what it accepted
"""

from ._app import ReferenceMock, create_app
from ._config import Contact, MockConfig, load_mock_config
from ._state import SentRecord

__all__ = ["Contact", "MockConfig", "ReferenceMock", "SentRecord", "create_app", "load_mock_config"]
