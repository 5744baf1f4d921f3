"""Version parsing and the one-predicate-per-API-difference table."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from edge_runtime.engines.backends.tensorrt.versions import (
    TrtVersion,
    import_tensorrt,
    require_supported,
    tensorrt_version,
)
from edge_runtime.errors import UserError
from tests.engines.tensorrt.conftest import InstallTrt

V = TrtVersion.parse


def test_versions_parse_and_compare_numerically() -> None:
    assert V("8.5.2.2") == TrtVersion(8, 5, 2, 2)
    assert V("10.0.0b6") == TrtVersion(10, 0, 0, 6)  # early access: digits only
    assert V("10.3.0.30+cuda12.5") == TrtVersion(10, 3, 0, 30)
    assert V("8.5.0.9") < V("8.5.1") < V("8.5.2.2") < V("8.6") < V("10.0.1") < V("11")
    assert str(V("10.3")) == "10.3.0.0" and V("10.3.0.30").short == "10.3"
    with pytest.raises(ValueError, match="not a TensorRT version"):
        V("dev")


@pytest.mark.parametrize(("predicate", "false_at", "true_at"), [
    ("is_supported", "8.2.1", "8.4.1"),
    ("has_memory_pools", "8.2.5", "8.4.0"),
    ("has_named_tensor_io", "8.5.0.9", "8.5.1.7"),
    ("has_strongly_typed_networks", "8.6.1", "10.0.0"),
    ("has_progress_monitor", "8.6.1", "10.0.0"),
    ("implicit_int8_deprecated", "10.0.1", "10.1.0"),
])
def test_features_appear_at_their_release(predicate: str, false_at: str, true_at: str) -> None:
    assert getattr(V(false_at), predicate) is False
    assert getattr(V(true_at), predicate) is True


@pytest.mark.parametrize(("predicate", "true_at", "false_at"), [
    ("has_build_engine", "8.6.1", "10.0.0"),
    ("needs_explicit_batch_flag", "8.5.2", "10.0.0"),
    ("has_weak_typing", "10.13.0", "11.0.0"),
    ("has_implicit_int8", "10.13.0", "11.0.0"),
])
def test_features_disappear_at_their_release(predicate: str, true_at: str,
                                             false_at: str) -> None:
    assert getattr(V(true_at), predicate) is True
    assert getattr(V(false_at), predicate) is False


def test_jetpack_releases() -> None:
    jp5_0, jp5_1, jp6, trt11 = V("8.4.1.5"), V("8.5.2.2"), V("10.3.0.30"), V("11.0.0")
    assert not jp5_0.has_named_tensor_io and jp5_1.has_named_tensor_io
    assert jp5_1.needs_explicit_batch_flag and not jp6.needs_explicit_batch_flag
    assert jp6.has_implicit_int8 and jp6.implicit_int8_deprecated
    assert not trt11.has_implicit_int8 and not trt11.has_weak_typing


def test_older_than_jetpack_5_is_refused() -> None:
    with pytest.raises(UserError, match=r"older than 8\.4"):
        require_supported(V("8.2.1.8"))
    assert require_supported(V("8.4.1")) == V("8.4.1")


def test_version_of_installed_fake(install_trt: InstallTrt) -> None:
    install_trt("10.3.0.30")
    assert tensorrt_version() == "10.3.0.30"


def test_no_tensorrt(no_trt: None) -> None:
    assert import_tensorrt() is None and tensorrt_version() is None


def test_a_stub_only_install_is_not_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    """tensorrt-stubs installed into site-packages gives a namespace package with no version."""
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    assert tensorrt_version() is None


def test_the_package_imports_without_tensorrt(no_trt: None) -> None:
    module = importlib.import_module("edge_runtime.engines.backends.tensorrt")
    assert {"TensorRTBuilder", "TensorRTRunner", "tensorrt_version"} <= set(module.__all__)
