"""docs/config.md is generated from the models and must be current."""

from __future__ import annotations

from edge_runtime.config.reference import config_reference
from tests.conftest import REPO


def test_docs_config_md_is_up_to_date() -> None:
    current = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == config_reference(), "run: python tools/gen_config_docs.py"


def test_every_field_is_documented() -> None:
    text = config_reference()
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), line
