"""Test-suite settings: the ``shared_fixtures`` marker.

Tests marked ``@pytest.mark.shared_fixtures`` replay captured real NCBI responses from
``../shared/fixtures/entrez`` (beside the repository, not part of it). They run whenever that folder
exists and are skipped with one line otherwise; with ``EVSYNTH_REQUIRE_SHARED_FIXTURES=1`` (set by
``.ci/run``) a missing folder fails them instead.
"""

from __future__ import annotations

import os

import pytest
from eutils_stub import SHARED_FIXTURES

REQUIRE_SHARED = "EVSYNTH_REQUIRE_SHARED_FIXTURES"
SHARED_SKIP_REASON = "../shared/fixtures/entrez not found (plain clone): captured NCBI responses not replayed"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared_fixtures: replays captured NCBI responses from ../shared/fixtures/entrez")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_fixtures") is None or SHARED_FIXTURES.is_dir():
        return
    if os.environ.get(REQUIRE_SHARED) == "1":
        pytest.fail(f"{REQUIRE_SHARED}=1 but {SHARED_FIXTURES} does not exist", pytrace=False)
    pytest.skip(SHARED_SKIP_REASON)
