"""The engine cache: hits, atomic entries, and damaged entries rebuilt with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_runtime.config import load_power_profile, load_recipe
from edge_runtime.config.recipe import BackendName, EngineRecipe
from edge_runtime.engines import EngineCache, EngineContext, build_engine
from edge_runtime.engines.cache import MANIFEST_FILE, PLAN_FILE, cache_key
from edge_runtime.sim import SimulatedJetson


def context(cache: EngineCache) -> EngineContext:
    return EngineContext(cache=cache,
                         device=SimulatedJetson(load_power_profile("jetson-agx-orin-32gb")))


def test_second_build_is_a_verified_cache_hit(tiny_recipe: Path, cache: EngineCache) -> None:
    recipe = load_recipe(tiny_recipe)
    first = build_engine(recipe, BackendName.MOCK, context(cache))
    second = build_engine(recipe, BackendName.MOCK, context(cache))
    assert not first.cache_hit and second.cache_hit
    assert second.artifact == first.artifact
    assert [s.key for s in cache.entries()] == [first.artifact.manifest.key]


def test_the_key_changes_with_recipe_backend_and_device(tiny_recipe: Path,
                                                        cache: EngineCache) -> None:
    recipe = load_recipe(tiny_recipe)
    keys = {build_engine(recipe, BackendName.MOCK, context(cache)).artifact.manifest.key,
            build_engine(EngineRecipe.model_validate({**recipe.model_dump(), "precision": "fp32"}),
                         BackendName.MOCK, context(cache)).artifact.manifest.key,
            build_engine(recipe, BackendName.ONNXRUNTIME, context(cache)).artifact.manifest.key}
    other = EngineContext(cache=cache, device=SimulatedJetson(
        load_power_profile("jetson-orin-nano-8gb")))
    keys.add(build_engine(recipe, BackendName.MOCK, other).artifact.manifest.key)
    assert len(keys) == 4
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})


@pytest.mark.parametrize("damage", ["flip_plan", "truncate_plan", "bad_json", "other_key",
                                    "missing_plan"])
def test_a_damaged_entry_is_rebuilt_with_a_warning_never_loaded(
        tiny_recipe: Path, cache: EngineCache, damage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    recipe = load_recipe(tiny_recipe)
    built = build_engine(recipe, BackendName.MOCK, context(cache)).artifact
    entry = cache.entry_dir(built.manifest.key)
    plan, manifest = entry / PLAN_FILE, entry / MANIFEST_FILE
    if damage == "flip_plan":
        data = bytearray(plan.read_bytes())
        data[len(data) // 2] ^= 0xFF
        plan.write_bytes(bytes(data))
    elif damage == "truncate_plan":
        plan.write_bytes(plan.read_bytes()[:100])
    elif damage == "bad_json":
        manifest.write_text("{ not json", encoding="utf-8")
    elif damage == "other_key":
        manifest.write_text(manifest.read_text().replace(built.manifest.key, "0" * 32))
    else:
        plan.unlink()
    assert [s.ok for s in cache.entries()] == [False]
    with caplog.at_level(logging.WARNING):
        again = build_engine(recipe, BackendName.MOCK, context(cache))
    assert not again.cache_hit
    assert "damaged" in caplog.text and built.manifest.key in caplog.text
    assert again.artifact.plan == built.plan
    assert [s.ok for s in cache.entries()] == [True]


def test_store_is_atomic_a_failed_write_leaves_no_entry(
        tiny_recipe: Path, cache: EngineCache, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_recipe(tiny_recipe)
    built = build_engine(recipe, BackendName.MOCK, context(cache)).artifact
    assert cache.clear() == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("edge_runtime.engines.cache.os.fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        cache.store(built)
    assert list(cache.root.iterdir()) == []
    assert cache.load(built.manifest.key) is None
