"""The one JetPack table: its facts, and that docs/jetson-build.md carries the same table."""

from __future__ import annotations

from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.jetpack import JETPACK_RELEASES, for_cuda_major, markdown_table, newest
from edge_runtime.optimize.trt_cache import DEFAULT_TRT_VERSION
from tests.conftest import REPO


def test_the_docs_carry_the_table_the_code_uses() -> None:
    assert markdown_table() in (REPO / "docs" / "jetson-build.md").read_text()


def test_release_facts() -> None:
    by_jetpack = {r.jetpack: r for r in JETPACK_RELEASES}
    assert by_jetpack["6.0"].tensorrt == "8.6.2"  # not 10.3: that is 6.1 and 6.2
    assert by_jetpack["6.1, 6.2"].tensorrt.startswith("10.3")
    assert DEFAULT_TRT_VERSION == newest().tensorrt == "10.3.0"
    assert all(r.python == "3.10" for r in JETPACK_RELEASES if r.jetpack.startswith("6"))
    # JetPack 6's Python 3.10 rules out cuda-python 12.9.11+ (3.11+) and 13 (CUDA 13 runtime)
    assert by_jetpack["6.0"].cuda_python == "cuda-python>=12.2,<12.9.11"
    assert for_cuda_major(12) is by_jetpack["6.1, 6.2"]
    assert for_cuda_major(11) is by_jetpack["5.1.x"] and for_cuda_major(13) is None


def test_dla_support_per_tensorrt() -> None:
    assert all(TrtVersion.parse(r.tensorrt).has_dla == r.dla for r in JETPACK_RELEASES)
    assert not TrtVersion.parse("11.0.0").has_dla and TrtVersion.parse("10.13.0").has_dla
