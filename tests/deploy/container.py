"""A real systemd, booted in a Debian container with ``systemd-nspawn``, for the deploy tests.

The root file system is made once with ``debootstrap`` (minbase plus systemd, dbus, sudo and
Python's venv) and cached under ``.cache/nspawn/``; each test session boots a copy of it, so
what one run installs never leaks into the next. Commands run inside with ``nsenter`` into the
container's namespaces (no systemd-machined is needed on the host). The container shares the
host's network, so pip inside reaches the package index and the test scrapes the service's
metrics port on 127.0.0.1 directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "nspawn"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# procps: /bin/kill, which the unit's ExecReload runs (every L4T image has it).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "sudo", "procps", "python3", "python3-venv")
HOST_TOOLS = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container",
              "nsenter": "util-linux"}
#: The PATH commands inside the container get (not the host's).
CONTAINER_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "LANG=C.UTF-8"]


class CannotRunError(Exception):
    """This machine cannot boot the container; the message says why (shown in the output)."""


def log(message: str) -> None:
    """Progress on the terminal even under pytest's capture: the first build takes minutes."""
    if sys.__stderr__ is not None:
        sys.__stderr__.write(f"[systemd container] {message}\n")


def install_host_tools(tools: dict[str, str]) -> None:
    """Debian packages for missing commands, installed when running as root (as CI does)."""
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CannotRunError(f"needs {', '.join(missing)} and cannot install them here (not root, "
                        "or no apt-get)")
    log(f"installing {' '.join(missing)} from Debian's packages")
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]):
        result = subprocess.run(argv, capture_output=True, text=True, env={
            **os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False)
        if result.returncode != 0:
            raise CannotRunError(f"{' '.join(argv)} failed: {result.stderr.strip()[-300:]}")


def cached_rootfs() -> Path:
    """The pristine root file system, built on first use (about a minute)."""
    if os.geteuid() != 0:
        raise CannotRunError("booting a container with systemd-nspawn needs root")
    install_host_tools(HOST_TOOLS)
    name = f"{SUITE}-" + "-".join(sorted(PACKAGES))
    root = CACHE / name
    stamp = root / ".edge-runtime-complete"
    if stamp.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {SUITE} into {root} (once; cached)")
    result = subprocess.run(["debootstrap", "--variant=minbase",
                             f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CannotRunError(f"debootstrap failed: {result.stdout.strip()[-400:]}")
    stamp.write_text("ok\n")
    return root


class Container:
    """A booted copy of the cached root file system."""

    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "rootfs"
        self.process: subprocess.Popen[bytes] | None = None
        self.leader = 0
        self.console = workdir / "console.log"

    def prepare(self) -> None:
        pristine = cached_rootfs()
        log(f"copying the root file system to {self.root}")
        subprocess.run(["cp", "-a", "--reflink=auto", str(pristine), str(self.root)],
                       check=True)

    def boot(self, binds: dict[Path, str] | None = None, timeout: float = 90.0) -> None:
        """Boot it; ``binds`` maps host directories to paths inside (read-write)."""
        name = f"ert{os.getpid()}"  # also its hostname, which sudo wants to resolve
        with (self.root / "etc/hosts").open("a") as hosts:
            hosts.write(f"127.0.1.1 {name}\n")
        mounts = [f"--bind={host}:{inside}" for host, inside in (binds or {}).items()]
        with self.console.open("wb") as console:
            self.process = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "-D", str(self.root), "--boot", "-M", name,
                 "--register=no", "--keep-unit", "--console=passive", *mounts],
                stdout=console, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotRunError(f"systemd-nspawn exited ({self.process.returncode}): "
                                f"{self.console.read_text(errors='replace')[-400:]}")
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            pids = children.read_text().split() if children.exists() else []
            state = ""
            if pids:  # its systemd is up once it answers on its bus
                self.leader = int(pids[0])
                answer = self.run("systemctl", "is-system-running", "--wait", check=False,
                                  timeout=timeout)
                state = (answer.stdout + answer.stderr).strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.5)
        raise CannotRunError(f"the container did not boot within {timeout:.0f} s ({state})")

    def run(self, *argv: str, check: bool = True, timeout: float = 600.0,
            user: str | None = None) -> subprocess.CompletedProcess[str]:
        """A command inside the container (as ``user`` via runuser, else root)."""
        inner = ["runuser", "-u", user, "--", *argv] if user else list(argv)
        result = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *CONTAINER_ENV,
                                 *inner], capture_output=True, text=True, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str) -> str:
        return self.run("journalctl", "-u", unit, "--no-pager", "-o", "cat").stdout

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None and self.leader:
            self.run("systemctl", "poweroff", check=False, timeout=30)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)
