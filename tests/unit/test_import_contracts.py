"""The import contracts (pyproject.toml, ``lint-imports`` in .ci/run's lint step): the tree
keeps them, and each one breaks on the import it forbids.

A violation is added to a temporary copy of the four packages, checked against the real
configuration, so the tree itself is never touched. One run takes about 0.4 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("eventhub", "orders", "inventory", "notifications")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def copy_of_tree(tmp_path: Path) -> Path:
    """The Python sources of the four packages and the real pyproject.toml."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "*.pyc"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_import_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        pytest.param(
            "eventhub/live.py",
            "from orders.models import Order",
            "eventhub imports no business app BROKEN",
            id="runtime-imports-an-app",
        ),
        pytest.param(
            "notifications/handlers.py",
            "from orders.selectors import order_get",
            "orders, inventory and notifications import each other's events only BROKEN",
            id="notifications-reads-orders-rows",
        ),
        pytest.param(
            "inventory/handlers.py",
            "from orders.services import order_status_set",
            "orders, inventory and notifications import each other's events only BROKEN",
            id="inventory-calls-an-orders-service",
        ),
        pytest.param(
            "orders/payments/handlers.py",
            "from orders.selectors import order_get",
            "payments and shipping import their parent package's events only BROKEN",
            id="payments-reads-orders-rows",
        ),
        pytest.param(
            "orders/handlers.py",
            "from orders.payments.services import payment_refund",
            "orders and inventory import payments' and shipping's events only BROKEN",
            id="orders-calls-a-payments-service",
        ),
        pytest.param(
            "eventhub/dashboard/views.py",
            "from eventhub.devtools.readiness import HOST",
            "only the tooling's own commands import eventhub.devtools BROKEN",
            id="runtime-imports-the-tooling",
        ),
        pytest.param(
            "orders/api.py",
            "from eventhub.devtools.loadgen import probes_publish",
            "only the tooling's own commands import eventhub.devtools BROKEN",
            id="an-app-imports-the-tooling",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract_naming_the_line(
    copy_of_tree: Path, module: str, line: str, broken: str
) -> None:
    path = copy_of_tree / module
    source = path.read_text()
    path.write_text(f"{source}\n{line}  # noqa: E402\n")
    result = lint_imports(copy_of_tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    imported = line.split()[1]
    assert f"{importer} -> {imported} (l.{source.count(chr(10)) + 2})" in result.stdout


def test_another_apps_events_may_be_imported(copy_of_tree: Path) -> None:
    path = copy_of_tree / "notifications/handlers.py"
    path.write_text(path.read_text() + "\nfrom inventory.shipping.events import ShipmentCreated\n")
    result = lint_imports(copy_of_tree)
    assert result.returncode == 0, result.stdout + result.stderr
