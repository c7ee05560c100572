import pytest


@pytest.fixture(autouse=True)
def catalog(transactional_db: None) -> None:
    """Transactional tests flush every table between tests: put the seed catalog back."""
    from inventory.services import catalog_seed

    catalog_seed()
