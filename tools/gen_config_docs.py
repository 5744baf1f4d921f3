"""Regenerate docs/config.md from the config models: ``python tools/gen_config_docs.py``."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.config.reference import config_reference

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"

if __name__ == "__main__":
    DOCS.write_text(config_reference(), encoding="utf-8")
    print(f"wrote {DOCS}")
