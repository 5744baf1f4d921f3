"""``edge-runtime doctor``: what this machine has, held against what a pipeline set needs.

A robotics engineer runs it on a fresh x86 box or a Jetson before anything else, so every
check is a function of a :class:`Host`: the file-system root under which ``/proc`` and ``/sys``
are read, the ``PATH`` that ``nvpmodel`` / ``sudo`` / ``systemctl`` are looked up on, a command
runner and an importer. Tests lay out a fake Jetson in a temporary directory and fake the
commands and modules; nothing here needs the hardware it reports on. Hardware libraries are
imported only through :attr:`Host.import_module`, inside the checks, so importing this module
loads none of them.

Each check says what it found and, when it fails, one line on how to fix it. Whether a failure
matters depends on the work: :func:`needs_of` turns a pipeline set (or, without one, the
simulated backend) into :class:`Needs`, and a check the work needs is ``required``. The
machine is ready when every required check passed (:func:`ready`).
"""

from __future__ import annotations

import getpass
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from edge_runtime.config.loading import LoadedPipelineSet
from edge_runtime.config.recipe import BackendName, TargetDevice
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.power.telemetry import THERMAL_DIR, thermal_zones

#: ``(argv) -> (exit status, stdout)``.
Runner = Callable[[Sequence[str]], tuple[int, str]]
#: ``importlib.import_module``'s shape; raises (ImportError or worse) when a module is missing.
Importer = Callable[[str], ModuleType]

MIN_PYTHON = (3, 10)
UNIT = "edge-runtime.service"
MODEL_FILE = "proc/device-tree/model"
PLATFORM_DEVICES = "sys/bus/platform/devices"
INA3221_DIR = "sys/bus/i2c/drivers/ina3221"
_COMMAND_TIMEOUT_S = 10.0
#: The rule is the service user's (deploy/jetson/install.sh writes it): run as another user,
#: the doctor can only say what that user may do.
_SUDOERS_FIX = ("sudo deploy/jetson/install.sh writes the rule (/etc/sudoers.d/edge-runtime) for "
                "the service user edge-runtime; check as that user: sudo -u edge-runtime "
                "/opt/edge-runtime/venv/bin/edge-runtime doctor")


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """The real runner: never prompts (stdin is closed), never hangs (a timeout), and a missing
    program is exit status 127 as in a shell, not an exception."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=_COMMAND_TIMEOUT_S)
    except FileNotFoundError:
        return 127, ""
    except subprocess.TimeoutExpired:
        return 124, ""
    return done.returncode, done.stdout


def _python_version() -> tuple[int, int, int]:
    return sys.version_info.major, sys.version_info.minor, sys.version_info.micro


def _user() -> str:
    """The login name; a container may have neither $USER nor a passwd entry for the uid."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Host:
    """The machine as the checks see it; every field defaults to the real one."""

    root: Path = Path("/")
    """Where ``/proc`` and ``/sys`` are read (a fake tree in tests)."""
    search_path: str | None = None
    """``PATH`` for :meth:`which` (None: the process's ``PATH``)."""
    run: Runner = run_command
    """Runs ``sudo -n -l`` and ``systemctl``."""
    import_module: Importer = importlib.import_module
    """Imports onnxruntime, tensorrt, the CUDA bindings and rclpy."""
    python_version: tuple[int, int, int] = field(default_factory=_python_version)
    user: str = field(default_factory=_user)
    """Who ``sudo -n -l`` answers for (named in the report)."""

    def path(self, relative: str) -> Path:
        return self.root / relative

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.search_path)

    def try_import(self, name: str) -> tuple[ModuleType | None, str]:
        """The module, or None and why not. Any exception counts as absent: a broken install
        (a missing shared library is an OSError, a bad wheel anything at all) is what the
        engineer needs to hear about, not a traceback from the doctor."""
        try:
            return self.import_module(name), ""
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


@dataclass(frozen=True)
class Check:
    """One line of the checklist. ``ok`` is None for not applicable, or optional and absent;
    ``fix`` is set when ``ok`` is False; ``required`` when the work cannot run without it."""

    name: str
    ok: bool | None
    found: str
    fix: str | None = None
    required: bool = False
    needed_for: str | None = None
    """What needs it (shown in the table; None when nothing does)."""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "found": self.found, "fix": self.fix,
                "required": self.required}


def _check(name: str, ok: bool | None, found: str, fix: str | None,
           needed_for: str | None) -> Check:
    return Check(name, ok, found, fix if ok is False else None, needed_for is not None,
                 needed_for)


# --- what the work needs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What the configured work needs beyond Python, onnxruntime and a writable cache (which
    everything needs), each with the pipelines that need it."""

    subject: str
    """``pipelines/demo.yaml`` or ``the simulated backend``."""
    tensorrt: tuple[str, ...] = ()
    """Pipelines whose engine runs on TensorRT (they need TensorRT and a CUDA binding)."""
    dla: tuple[tuple[str, int], ...] = ()
    """(pipeline, DLA core index) for TensorRT engines built for a DLA."""
    ros2: tuple[str, ...] = ()
    """Pipelines with a ``ros2`` source (they need rclpy)."""

    @property
    def dla_cores(self) -> int:
        """DLA cores the module must have (``dla1`` needs two)."""
        return max((core + 1 for _, core in self.dla), default=0)


SIMULATED = Needs("the simulated backend")
_DLA_CORE = {TargetDevice.DLA0: 0, TargetDevice.DLA1: 1}


def needs_of(loaded: LoadedPipelineSet | None, *, backend: BackendName | None = None,
             tensorrt_present: bool = False) -> Needs:
    """What running ``loaded`` needs (``edge-runtime run PIPELINES [--backend B]``).

    A backend resolves as the runtime resolves it: the override, else the recipe's; ``auto``
    is TensorRT where it is importable, else the simulated Jetson. Only an engine that really
    runs on TensorRT needs the module's DLAs: on the simulated Jetson a DLA lane is simulated,
    and onnxruntime runs every engine on the CPU.
    """
    if loaded is None:
        return SIMULATED
    on_tensorrt: list[str] = []
    dla: list[tuple[str, int]] = []
    ros2: list[str] = []
    for pipeline in loaded.config.pipelines:
        recipe = loaded.recipes[pipeline.name]
        name = backend or recipe.backend
        if name is BackendName.AUTO:
            name = BackendName.TENSORRT if tensorrt_present else BackendName.MOCK
        if name is BackendName.TENSORRT:
            on_tensorrt.append(pipeline.name)
            if recipe.target.device in _DLA_CORE:
                dla.append((pipeline.name, _DLA_CORE[recipe.target.device]))
        if pipeline.source.type == "ros2":
            ros2.append(pipeline.name)
    return Needs(str(loaded.path), tuple(on_tensorrt), tuple(dla), tuple(ros2))


def _names(pipelines: Sequence[str]) -> str | None:
    return ", ".join(pipelines) if pipelines else None


# --- software ------------------------------------------------------------------------------------


def check_python(host: Host) -> Check:
    version = ".".join(str(n) for n in host.python_version)
    ok = host.python_version[:2] >= MIN_PYTHON
    return _check("Python", ok, version, "install Python 3.10 or newer and recreate the venv "
                  "with it (make PYTHON=python3.10)", "everything")


def check_onnxruntime(host: Host) -> Check:
    """A core dependency: the simulated backend's outputs, the onnxruntime backend, INT8
    calibration and the accuracy gate's FP32 reference all run on it."""
    module, why = host.try_import("onnxruntime")
    if module is None:
        return _check("onnxruntime", False, f"not importable ({why})",
                      "pip install 'onnxruntime>=1.16' (on a Jetson: the Jetson Zoo "
                      "onnxruntime-gpu wheel)", "everything")
    try:
        providers = ", ".join(str(p) for p in module.get_available_providers())
    except Exception as exc:
        return _check("onnxruntime", False, f"imports, but lists no providers ({exc})",
                      "reinstall onnxruntime (pip install --force-reinstall onnxruntime)",
                      "everything")
    version = getattr(module, "__version__", "?")
    return _check("onnxruntime", True, f"{version}; providers: {providers}", None, "everything")


def probe_tensorrt(host: Host) -> tuple[str | None, str]:
    """TensorRT's version, or None and why not. A stub-only install (``tensorrt-stubs``: an
    empty namespace package) has no ``__version__`` and counts as absent, as in the backend."""
    module, why = host.try_import("tensorrt")
    if module is None:
        return None, why
    version = getattr(module, "__version__", None)
    if not isinstance(version, str):
        return None, "a package without __version__ (type stubs only?)"
    return version, ""


def check_tensorrt(host: Host, needs: Needs, *, jetson: bool) -> Check:
    version, why = probe_tensorrt(host)
    needed_for = _names(needs.tensorrt)
    if version is None:
        fix = ("sudo apt install python3-libnvinfer, then recreate the venv with "
               "--system-site-packages (docs/jetson-build.md)" if jetson else
               "pip install 'edge-runtime[tensorrt]' on a host with an NVIDIA GPU, or run the "
               "simulated Jetson (backend: mock)")
        return _check("TensorRT", False, f"not importable ({why})", fix, needed_for)
    try:
        supported = TrtVersion.parse(version).is_supported
    except ValueError:
        supported = False
    if not supported:
        return _check("TensorRT", False, f"{version} (older than 8.4 or unreadable)",
                      "upgrade to JetPack 5.0.2 or newer (TensorRT 8.4+)", needed_for)
    return _check("TensorRT", True, version, None, needed_for)


def check_cuda(host: Host, needs: Needs) -> Check:
    """The TensorRT backend moves tensors through cuda-python (``cuda.bindings.runtime``, or
    ``cuda.cudart`` before 12.6) or pycuda; the same order as the backend tries them."""
    needed_for = _names(needs.tensorrt)
    reasons: list[str] = []
    for module_name, label in (("cuda.bindings.runtime", "cuda-python"),
                               ("cuda.cudart", "cuda-python (cuda.cudart)"),
                               ("pycuda.driver", "pycuda")):
        module, why = host.try_import(module_name)
        if module is not None:
            version = _cuda_binding_version(host, module_name)
            return _check("CUDA Python", True, f"{label} {version}".strip(), None, needed_for)
        reasons.append(f"{module_name}: {why}")
    cuda_python, pycuda = reasons[0], reasons[-1]  # cuda.cudart's reason repeats the first
    return _check("CUDA Python", False, f"neither imports ({cuda_python}; {pycuda})",
                  "pip install cuda-python (or pycuda)", needed_for)


def _cuda_binding_version(host: Host, module_name: str) -> str:
    package = {"cuda.bindings.runtime": "cuda.bindings", "pycuda.driver": "pycuda"}.get(
        module_name)
    module = host.try_import(package)[0] if package else None
    for attribute in ("__version__", "VERSION_TEXT"):
        value = getattr(module, attribute, None)
        if isinstance(value, str):
            return value
    return ""


def check_rclpy(host: Host, needs: Needs) -> Check:
    needed_for = _names(needs.ros2)
    module, why = host.try_import("rclpy")
    if module is not None:
        return _check("rclpy", True, "importable", None, needed_for)
    if needed_for is None:
        return _check("rclpy", None, "not importable (optional: only ros2 sources and "
                      "`edge-runtime ros2` need it)", None, None)
    return _check("rclpy", False, f"not importable ({why})",
                  "source a ROS 2 install (Humble or newer), or run `make ros2-env` and use "
                  ".venv-ros/bin/edge-runtime", needed_for)


def check_cache(cache_dir: Path) -> Check:
    """Writable as proven by writing: a temporary file in the directory, or in the nearest
    existing parent when the cache would be created on first build. ``os.access`` would be
    wrong for root on a read-only mount."""
    target = cache_dir
    while not target.exists() and target != target.parent:
        target = target.parent
    where = str(cache_dir) if target == cache_dir else f"{cache_dir} (created on first build " \
                                                       f"under {target})"
    fix = (f"make {target} writable for this user, or pass --cache-dir / set "
           "EDGE_RUNTIME_CACHE to a writable directory")
    if not target.is_dir():
        return _check("engine cache", False, f"{where}: {target} is not a directory", fix,
                      "everything")
    try:
        handle, probe = tempfile.mkstemp(prefix=".doctor-", dir=target)
    except OSError as exc:
        return _check("engine cache", False, f"{where}: not writable ({exc.strerror})", fix,
                      "everything")
    os.close(handle)
    Path(probe).unlink()
    return _check("engine cache", True, f"{where}, writable", None, "everything")


# --- the module ----------------------------------------------------------------------------------


def read_model(host: Host) -> str | None:
    """The device-tree model (``NVIDIA Jetson AGX Orin Developer Kit``), NUL stripped."""
    try:
        raw = host.path(MODEL_FILE).read_bytes()
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip() or None


def is_jetson(model: str | None) -> bool:
    return model is not None and "jetson" in model.lower()


def dla_devices(host: Host) -> list[str]:
    """The DLA platform devices (``15880000.nvdla0``, ``158c0000.nvdla1`` on an Orin)."""
    return sorted(p.name for p in host.path(PLATFORM_DEVICES).glob("*nvdla*"))


def check_module(model: str | None, needs: Needs) -> Check:
    needed_for = _names([name for name, _ in needs.dla])
    if is_jetson(model):
        return _check("Jetson module", True, str(model), None, needed_for)
    found = (f"{model} (not a Jetson)" if model else
             f"no /{MODEL_FILE}: not a Jetson (the simulated Jetson runs here)")
    return _check("Jetson module", False if needed_for else None, found,
                  "run DLA pipelines on a Jetson with DLAs (AGX Orin, Orin NX)", needed_for)


def check_dla(host: Host, model: str | None, needs: Needs) -> Check:
    devices = dla_devices(host)
    needed_for = _names([name for name, _ in needs.dla])
    found = f"{len(devices)}" + (f" ({', '.join(devices)})" if devices else "")
    if needed_for is not None:
        ok = len(devices) >= needs.dla_cores
        return _check("DLA cores", ok, f"{found}; {needs.dla_cores} needed", (
            f"this module has {len(devices)} DLA core(s): build {needed_for} for the GPU "
            "(target: {device: gpu}) or run them on an AGX Orin / Orin NX"), needed_for)
    if devices:
        return _check("DLA cores", True, found, None, None)
    return _check("DLA cores", None, found + (" (this module has none)" if is_jetson(model)
                                               else " (not a Jetson)"), None, None)


def check_nvpmodel(host: Host, model: str | None) -> Check:
    """Present, and switchable without a password: the service switches power modes with
    ``sudo -n nvpmodel -m <N>``, which its sudoers rule allows; ``sudo -n -l`` asks sudo whether
    that command would be allowed for this user, without running it."""
    path = host.which("nvpmodel")
    if path is None:
        if not is_jetson(model):
            return _check("nvpmodel", None, "not on PATH (not a Jetson: the simulated Jetson "
                          "switches modes itself)", None, None)
        return _check("nvpmodel", False, "not on PATH", "it ships with JetPack as "
                      "/usr/sbin/nvpmodel: add /usr/sbin to PATH, or reinstall JetPack", None)
    sudo = host.which("sudo")
    if sudo is None:
        return _check("nvpmodel", False, f"{path}; sudo not found", "install sudo, then "
                      f"{_SUDOERS_FIX}", None)
    status, _ = host.run([sudo, "-n", "-l", path, "-m", "0"])
    if status == 0:
        return _check("nvpmodel", True, f"{path}; sudo -n allows {host.user} `nvpmodel -m N`",
                      None, None)
    return _check("nvpmodel", False, f"{path}; sudo -n does not allow {host.user} `nvpmodel -m "
                  f"N` (sudo -n -l exit {status})", _SUDOERS_FIX, None)


@dataclass(frozen=True)
class Rail:
    label: str
    milliwatts: float


def _is_rail(label: str) -> bool:
    """Not an unconnected channel (L4T labels it NC) nor the summation channel ("sum of shunt
    voltages"): the rules jetson_stats follows too."""
    return bool(label) and label.upper() != "NC" and not label.lower().startswith("sum of shunt")


def read_rails(host: Host) -> tuple[list[Rail], list[str]]:
    """INA3221 rails and the files that could not be read. The hwmon driver gives volts and
    amps, not watts: power is ``in<c>_input`` (mV) x ``curr<c>_input`` (mA) / 1000."""
    rails: list[Rail] = []
    errors: list[str] = []
    for label_file in sorted(host.path(INA3221_DIR).glob("*/hwmon/hwmon*/in*_label")):
        channel = re.fullmatch(r"in(\d+)_label", label_file.name)
        if channel is None:
            continue
        c = channel.group(1)
        try:
            label = label_file.read_text(encoding="utf-8").strip()
            if not _is_rail(label):
                continue
            millivolts = int((label_file.parent / f"in{c}_input").read_text().strip())
            milliamps = int((label_file.parent / f"curr{c}_input").read_text().strip())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            errors.append(f"{label_file.parent.relative_to(host.root)}/in{c}: {reason}")
            continue
        rails.append(Rail(label, millivolts * milliamps / 1000))
    return rails, errors


def check_rails(host: Host, model: str | None) -> Check:
    rails, errors = read_rails(host)
    readings = ", ".join(f"{r.label} {r.milliwatts:.0f} mW" for r in rails)
    if errors:
        found = "; ".join(filter(None, [readings, f"unreadable: {', '.join(errors)}"]))
        return _check("INA3221 rails", False, found, "run on the module itself (a container "
                      "needs /sys), as a user who can read the ina3221 hwmon files", None)
    if rails:
        return _check("INA3221 rails", True, readings, None, None)
    if not is_jetson(model):
        return _check("INA3221 rails", None, "none (not a Jetson)", None, None)
    return _check("INA3221 rails", False, f"none under /{INA3221_DIR}", "the ina3221 hwmon "
                  "driver is missing (JetPack 5 or newer has it; JetPack 4's ina3221x is not "
                  "read)", None)


def read_thermal(host: Host) -> tuple[list[tuple[str, float | None]], list[str]]:
    """(zone type, °C or None when the sensor is power-gated) and the unreadable zones."""
    return thermal_zones(host.path(""))


def check_thermal(host: Host, model: str | None) -> Check:
    zones, errors = read_thermal(host)
    readings = ", ".join(f"{name} {'offline' if c is None else f'{c:.1f} °C'}"
                         for name, c in zones)
    if errors:
        found = "; ".join(filter(None, [readings, f"unreadable: {', '.join(errors)}"]))
        return _check("thermal zones", False, found, "run on the module itself (a container "
                      "needs /sys), as a user who can read the thermal zones", None)
    if zones:
        return _check("thermal zones", True, readings, None, None)
    if not is_jetson(model):
        return _check("thermal zones", None, f"none under /{THERMAL_DIR}", None, None)
    return _check("thermal zones", False, f"none under /{THERMAL_DIR}", "the BPMP thermal "
                  "driver is missing: reflash or update JetPack", None)


# --- the service ---------------------------------------------------------------------------------


_INSTALLED = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated",
              "disabled", "linked", "linked-runtime", "masked", "masked-runtime", "transient")


def check_service(host: Host) -> Check:
    """The systemd unit, optional everywhere: a dev box has none, and ``edge-runtime run``
    works without it. A missing unit makes ``is-enabled`` print ``not-found`` (or nothing,
    before systemd 250) and exit 1."""
    systemctl = host.which("systemctl")
    if systemctl is None:
        return _check("systemd unit", None, "systemctl not found (no systemd)", None, None)
    _, enabled_text = host.run([systemctl, "is-enabled", UNIT])
    enabled = enabled_text.strip()
    if enabled not in _INSTALLED:
        return _check("systemd unit", None, f"{UNIT} not installed (optional; docs/deploy.md)",
                      None, None)
    _, active_text = host.run([systemctl, "is-active", UNIT])
    active = active_text.strip() or "unknown"
    found = f"{UNIT} {enabled}, {active}"
    if enabled.startswith("masked"):
        fix = f"sudo systemctl unmask {UNIT} && sudo systemctl enable --now {UNIT}"
    elif enabled not in ("enabled", "enabled-runtime"):
        fix = f"sudo systemctl enable --now {UNIT}"
    else:
        fix = f"journalctl -u {UNIT} -e says why it is {active}; then sudo systemctl restart " \
              f"{UNIT}"
    ok = enabled in ("enabled", "enabled-runtime") and active == "active"
    return _check("systemd unit", ok, found, fix, None)


# --- all together --------------------------------------------------------------------------------


def diagnose(host: Host, *, cache_dir: Path, pipelines: LoadedPipelineSet | None = None,
             backend: BackendName | None = None) -> tuple[Needs, list[Check]]:
    """Every check, in the order a reader fixes them: software, the module, the service."""
    needs = needs_of(pipelines, backend=backend,
                     tensorrt_present=probe_tensorrt(host)[0] is not None)
    model = read_model(host)
    jetson = is_jetson(model)
    return needs, [
        check_python(host),
        check_onnxruntime(host),
        check_tensorrt(host, needs, jetson=jetson),
        check_cuda(host, needs),
        check_rclpy(host, needs),
        check_cache(cache_dir),
        check_module(model, needs),
        check_dla(host, model, needs),
        check_nvpmodel(host, model),
        check_rails(host, model),
        check_thermal(host, model),
        check_service(host),
    ]


def ready(checks: Sequence[Check]) -> bool:
    """Everything the work needs is present (optional checks may fail)."""
    return all(check.ok is True for check in checks if check.required)
