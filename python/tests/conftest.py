"""Shared fixtures of the Python tests: `work`, the converted `.lba` files (`lba_fixtures`)."""

from __future__ import annotations

import pytest

import lba_fixtures


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> dict:
    """{"dir": folder, "files": {(input, option): (source, .lba path, report of that input)}}."""
    d = tmp_path_factory.mktemp("lba")
    try:
        files = lba_fixtures.convert_all(d)
    except FileNotFoundError as error:
        pytest.fail(str(error))
    return {"dir": d, "files": files}
