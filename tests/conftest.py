"""Shared fixtures for the project's own tests."""

import pytest

from migma_contract.mock import create_app

from .helpers import client_for


@pytest.fixture
def mock():
    return create_app()


@pytest.fixture
def client(mock):
    with client_for(mock) as c:
        yield c
