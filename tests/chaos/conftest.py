from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import probe as chaos_probe

PLUGIN = {"EVENTHUB_PLUGINS": "tests.chaos.probe"}


@pytest.fixture
def probe_env(transactional_db: None, worker_env: dict[str, str]) -> Iterator[None]:
    """The probe subscribers in this process and (through the env) in every subprocess."""
    from inventory.services import catalog_seed

    catalog_seed()
    chaos_probe.create_table()
    chaos_probe.install()
    worker_env.update(PLUGIN)
    yield
    chaos_probe.uninstall()
    chaos_probe.drop_table()
