from collections.abc import Iterator
from pathlib import Path

import pytest

from opsbook.store import Store
from tests.support.pgutil import migrated_template, scratch_database
from tests.support.s3util import moto_endpoint


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port for one test module; stopped afterwards."""
    with moto_endpoint() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each dialect: SQLite in tmp_path, PostgreSQL in a scratch database."""
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
        yield s
        s.close()
    else:
        with scratch_database("opsbook_store", template=migrated_template()) as dsn:
            s = Store.open(dsn)
            yield s
            s.close()
