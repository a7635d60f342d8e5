"""Shared by every test directory (tests/ and integrations/*/tests/).

Tests marked ``price_table`` check costs that the genai-prices table computes. genai-prices
needs Python 3.11+, so on 3.10 they are skipped with that reason; what 3.10 does instead
(a model is ``unpriced`` unless ``configure(prices=...)`` knows it) is tested everywhere, in
tests/test_pricing.py.
"""

from __future__ import annotations

import importlib.util

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("genai_prices") is not None:
        return
    skip = pytest.mark.skip(reason="genai-prices (Python 3.11+) is not installed")
    for item in items:
        if item.get_closest_marker("price_table") is not None:
            item.add_marker(skip)
