import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from s3util import moto_endpoint


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port for one test module; stopped afterwards."""
    with moto_endpoint() as url:
        yield url
