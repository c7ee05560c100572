from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import WebServer

from .browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def catalog(transactional_db: None) -> None:
    from inventory.services import catalog_seed

    catalog_seed()


@pytest.fixture
def stack(
    catalog: None, start_worker: Callable[..., Any], relay: Any, start_web: Callable[..., WebServer]
) -> WebServer:
    """A worker, the relay and one daphne, all on the test database."""
    start_worker(EVENTHUB_RETRY_DELAY_SCALE="0.02")
    return start_web()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[[], Any]]:
    """Pages in fresh browser contexts (separate cookies), closed after the test."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
