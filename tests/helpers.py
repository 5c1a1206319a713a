"""Helpers shared by the project's tests."""

from contextlib import contextmanager

import httpx

from migma_contract.wire.asgi_transport import SyncASGITransport

FULL_KEY = "mc_test_full_access"
RESTRICTED_KEY = "mc_test_no_email_send"
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}


@contextmanager
def client_for(app):
    """A sync httpx client talking to an ASGI app in-process."""
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://mock") as client:
        yield client
