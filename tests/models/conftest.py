"""Fixtures shared by the registry and serving tests: an empty model registry in the test's own folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import ModelRegistry


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def reg(root) -> ModelRegistry:
    return ModelRegistry(root)
