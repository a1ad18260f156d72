"""Fixtures of the notices' tests."""

from __future__ import annotations

import pytest

from tests.helpers import Workspace


@pytest.fixture
def evaluated(sample_months: Workspace) -> Workspace:
    """The sample workspace with March 2026 judged: every kind of notice is due."""
    sample_months.ok("evaluate", "--period", "2026-03")
    return sample_months
