"""A content-addressed engine cache that never hands out a damaged plan.

Layout: ``ROOT/<key>/plan.bin`` and ``ROOT/<key>/manifest.json``. The key hashes everything the
plan depends on (see :func:`cache_key`). An entry is written into a temporary directory and
renamed into place, so it appears whole or not at all. On every load the manifest must parse,
name the same key and match the plan's size and sha256; otherwise the entry is reported, moved
aside and rebuilt, never loaded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_runtime.engines.artifact import MANIFEST_SCHEMA, Artifact, Manifest
from edge_runtime.fileio import fsync_dir, sha256_bytes

log = logging.getLogger(__name__)

PLAN_FILE = "plan.bin"
MANIFEST_FILE = "manifest.json"


def default_cache_dir() -> Path:
    """``$EDGE_RUNTIME_CACHE``, else ``$XDG_CACHE_HOME/edge-runtime/engines``."""
    explicit = os.environ.get("EDGE_RUNTIME_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge-runtime" / "engines"


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable hash of the JSON form of ``parts`` (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(text.encode("utf-8"))[:32]


class CorruptEntryError(Exception):
    """A cache entry failed verification; the message says how."""


@dataclass(frozen=True)
class EntryStatus:
    key: str
    ok: bool
    reason: str
    manifest: Manifest | None


class EngineCache:
    """Engine artifacts by key, verified on load."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> Artifact | None:
        """The verified artifact for ``key``; None when absent or (with a warning) damaged."""
        entry = self.entry_dir(key)
        if not entry.exists():
            return None
        try:
            return self._read_verified(entry, key)
        except CorruptEntryError as exc:
            log.warning("engine cache entry %s is damaged (%s); rebuilding it", key, exc)
            self._discard(entry)
            return None

    def store(self, artifact: Artifact) -> Path:
        """Write an entry atomically (temp dir + rename); replaces an existing entry."""
        key = artifact.manifest.key
        if sha256_bytes(artifact.plan) != artifact.manifest.plan_sha256:
            raise ValueError("artifact plan does not match its manifest hash")
        if {n: sha256_bytes(d) for n, d in artifact.files.items()} != artifact.manifest.files:
            raise ValueError("artifact files do not match their manifest hashes")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            contents = {**artifact.files, PLAN_FILE: artifact.plan,
                        MANIFEST_FILE: artifact.manifest.model_dump_json(indent=2).encode()}
            for name, data in contents.items():
                with (staging / name).open("wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            final = self.entry_dir(key)
            if final.exists():
                self._discard(final)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.root)
        return final

    def entries(self) -> list[EntryStatus]:
        """Every entry with its verification status (``cache verify``)."""
        statuses: list[EntryStatus] = []
        if not self.root.is_dir():
            return statuses
        for entry in sorted(p for p in self.root.iterdir() if p.is_dir()
                            and not p.name.startswith(".")):
            try:
                artifact = self._read_verified(entry, entry.name)
                statuses.append(EntryStatus(entry.name, True, "ok", artifact.manifest))
            except CorruptEntryError as exc:
                statuses.append(EntryStatus(entry.name, False, str(exc), None))
        return statuses

    def clear(self) -> int:
        """Remove every entry; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in self.root.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def _discard(self, entry: Path) -> None:
        """Move a damaged or replaced entry out of the way, then delete it."""
        graveyard = Path(tempfile.mkdtemp(prefix=".discard.", dir=self.root))
        try:
            entry.rename(graveyard / entry.name)
        finally:
            shutil.rmtree(graveyard, ignore_errors=True)

    @staticmethod
    def _read_verified(entry: Path, key: str) -> Artifact:
        try:
            manifest_text = (entry / MANIFEST_FILE).read_text(encoding="utf-8")
            plan = (entry / PLAN_FILE).read_bytes()
        except OSError as exc:
            raise CorruptEntryError(f"unreadable: {exc.strerror or exc}") from None
        try:
            raw = json.loads(manifest_text)
        except json.JSONDecodeError:
            raise CorruptEntryError("manifest is not valid JSON") from None
        if not isinstance(raw, dict) or raw.get("schema_version") != MANIFEST_SCHEMA:
            raise CorruptEntryError("manifest schema is not the one this version writes")
        try:
            manifest = Manifest.model_validate(raw)
        except ValidationError:
            raise CorruptEntryError("manifest does not match the manifest schema") from None
        if manifest.key != key:
            raise CorruptEntryError(f"manifest names key {manifest.key}")
        if len(plan) != manifest.plan_bytes:
            raise CorruptEntryError(
                f"plan is {len(plan)} bytes, manifest says {manifest.plan_bytes}")
        if sha256_bytes(plan) != manifest.plan_sha256:
            raise CorruptEntryError("plan sha256 does not match the manifest")
        files = {}
        for name, digest in manifest.files.items():
            try:
                data = (entry / name).read_bytes()
            except OSError:
                raise CorruptEntryError(f"{name} is missing") from None
            if sha256_bytes(data) != digest:
                raise CorruptEntryError(f"{name} sha256 does not match the manifest")
            files[name] = data
        return Artifact(plan=plan, manifest=manifest, files=files)
