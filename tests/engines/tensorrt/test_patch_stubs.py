"""tools/patch_tensorrt_stubs.py: exactly the three fixes, idempotent, from a folder or a wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tools.patch_tensorrt_stubs import STUB_FILES, main, patch_def, patch_text

#: A stub file as the wheel ships them (CRLF line ends), with each problem once.
BINDINGS = "\r\n".join([
    "import numpy",
    "import tensorrt_libs as tensorrt_libs",
    "__all__ = ['Builder', 'tensorrt_libs', 'volume']",
    "class IPluginV3:",
    "    def get_workspace_size(self, in: list[int], out: list[int]) -> int:",
    '        """',
    "            :arg in: the inputs (docstrings keep their words)",
    '        """',
    "    def add_scale_nd(self, input: int, shift: int = None, power: int = None, "
    "channel_axis: int) -> int:",
    "        ...",
    "    def keyword_only(self, a: int = 1, *, b: int) -> None:",
    "        ...",
    "    def index(self, interval: int, int_: int = 0) -> None:",
    "        ...",
    "",
])


def test_the_three_fixes_and_nothing_else() -> None:
    patched, changes = patch_text(BINDINGS.replace("\r\n", "\n"))
    assert "import tensorrt_libs" not in patched
    assert "__all__ = ['Builder', 'volume']" in patched
    assert "def get_workspace_size(self, in_: list[int], out: list[int]) -> int:" in patched
    assert ":arg in: the inputs" in patched
    assert "power: int = None, channel_axis: int = ...) -> int:" in patched
    assert "def keyword_only(self, a: int = 1, *, b: int) -> None:" in patched  # legal as is
    assert "def index(self, interval: int, int_: int = 0) -> None:" in patched
    assert [c.split(": ", 1)[1] for c in changes] == [
        "dropped 'import tensorrt_libs'", "dropped 'tensorrt_libs' from __all__",
        "get_workspace_size: renamed parameter 'in' -> 'in_'",
        "add_scale_nd: gave parameter 'channel_axis' the default '...'"]
    assert patch_text(patched) == (patched, [])  # idempotent


def test_patch_def_leaves_other_lines() -> None:
    assert patch_def("    x: int = 3\n") == ("    x: int = 3\n", [])


def test_from_a_wheel_and_from_a_folder_alike(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    wheel = tmp_path / "tensorrt_stubs-10.13.0.35.1-py3-none-any.whl"
    folder = tmp_path / "site"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in STUB_FILES:
            archive.writestr(name, BINDINGS)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(BINDINGS.encode())
    assert main([str(wheel), str(tmp_path / "a")]) == 0
    assert main([str(folder), str(tmp_path / "b")]) == 0
    for name in STUB_FILES:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a == b and b"\r" not in a
    assert "12 changes" in capsys.readouterr().out
    stamp = (tmp_path / "a" / STUB_FILES[0]).stat().st_mtime_ns
    main([str(wheel), str(tmp_path / "a")])  # unchanged output is not rewritten
    assert (tmp_path / "a" / STUB_FILES[0]).stat().st_mtime_ns == stamp


def test_missing_stubs_say_where_they_were_looked_for(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="is tensorrt-stubs installed"):
        main([str(tmp_path), str(tmp_path / "out")])
