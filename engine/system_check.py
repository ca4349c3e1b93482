"""Can this machine run Netwright? Qt's shared libraries, a display, torch and the runs folder.

Used by `netwright doctor` (every check, with the `apt-get install` line for what is missing) and
by the app's start (netwright/gui.py: the blockers, checked before Qt is loaded, because Qt aborts
the whole process when its platform plugin cannot be loaded). Qt-free and torch-free at import:
PySide6 is located with importlib (not imported) and its libraries are resolved as `ldd` does.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

#: shared library (soname) -> the Debian/Ubuntu package that installs it
SONAME_PACKAGES: dict[str, str] = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libexpat.so.1": "libexpat1",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}

#: what the README asks for on Debian/Ubuntu: everything Qt's xcb plugin needs beyond a base system
DEBIAN_GUI_PACKAGES = (
    "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxcb-image0", "libxcb-render-util0",
    "libxcb-shape0", "libxcb-randr0", "libxcb-xkb1", "libxkbcommon-x11-0", "libegl1", "libgl1",
    "libfontconfig1", "libdbus-1-3", "libglib2.0-0",
)

#: Qt platforms that draw without a display server
HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay", "minimalegl"}

Ldd = Callable[[Sequence[Path]], str]
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
_DLOPEN_ERROR = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report. `required`: a failure means Netwright cannot work."""

    name: str
    ok: bool
    detail: str
    missing: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    fix: str = ""
    required: bool = True


# ----------------------------------------------------------------------------- shared libraries

def run_ldd(paths: Sequence[Path]) -> str:
    """`ldd` on the files (their whole dependency tree); without ldd, a dlopen of each file, which
    names the first library it cannot find, in ldd's words."""
    ldd = shutil.which("ldd")
    if ldd:
        done = subprocess.run([ldd, *map(str, paths)], capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr
    return "\n".join(_dlopen_report(path) for path in paths)


def _dlopen_report(path: Path) -> str:
    try:
        ctypes.CDLL(str(path))
    except OSError as err:
        match = _DLOPEN_ERROR.search(str(err))
        if match:
            return f"\t{match.group(1)} => not found"
    return ""


def missing_libraries(paths: Sequence[Path], ldd: Ldd | None = None) -> tuple[str, ...]:
    """The sonames the files need that the dynamic loader cannot find, in first-seen order."""
    if not paths:
        return ()
    return tuple(dict.fromkeys(_NOT_FOUND.findall((ldd or run_ldd)(paths))))


def debian_packages(sonames: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(Debian packages that install the sonames, sonames with no known package)."""
    packages, unknown = [], []
    for soname in sonames:
        package = SONAME_PACKAGES.get(soname)
        (packages if package else unknown).append(package or soname)
    return tuple(dict.fromkeys(packages)), tuple(unknown)


def apt_command(packages: Sequence[str]) -> str:
    """The exact line that installs `packages` (with sudo unless already root)."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return f"{'' if root else 'sudo '}apt-get install -y {' '.join(packages)}"


# ----------------------------------------------------------------------------- Qt

def pyside_dir() -> Path | None:
    """PySide6's installed folder, found without importing it (importing loads Qt's libraries)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def qt_platforms(env: Mapping[str, str] = os.environ) -> list[str]:
    """The platform plugins Qt will try, in order: $QT_QPA_PLATFORM's list (`wayland;xcb`, each
    maybe with `:options`), else wayland then xcb in a Wayland session, else xcb (X11)."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return [part.split(":")[0].strip() for part in chosen.split(";") if part.strip()] or ["xcb"]
    if env.get("XDG_SESSION_TYPE") == "wayland" and sys.platform.startswith("linux"):
        return ["wayland", "xcb"]
    return ["xcb"]


def qt_platform(env: Mapping[str, str] = os.environ) -> str:
    """The Qt platform plugin the app tries first."""
    return qt_platforms(env)[0]


def qt_binaries(platform: str, root: Path | None) -> tuple[list[Path], str]:
    """The Qt files to resolve for `platform` and a problem text when one is missing from the
    PySide6 install. The platform plugin alone: its dependency tree holds QtGui's system libraries
    (EGL, GL, fontconfig, xkbcommon, glib, dbus), and QtWidgets adds none (one ldd run, not two)."""
    if root is None:
        return [], "PySide6 is not installed"
    plugin = root / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
    if sys.platform.startswith("linux") and not plugin.is_file():
        return [], f"Qt has no {platform!r} platform plugin ({plugin} is missing)"
    return [plugin] if plugin.is_file() else [], ""


def display_problem(platform: str, env: Mapping[str, str] = os.environ) -> str:
    """Why Qt could not open a window on `platform`'s display server, or ''."""
    if platform in HEADLESS_PLATFORMS or not sys.platform.startswith("linux"):
        return ""
    if platform == "wayland":
        return "" if env.get("WAYLAND_DISPLAY") else "no Wayland display ($WAYLAND_DISPLAY is not set)"
    if platform != "xcb":
        return ""
    display = env.get("DISPLAY", "")
    if not display:
        return "no X display ($DISPLAY is not set)"
    return "" if _x_display_answers(display) else f"the X display {display!r} does not answer"


def _x_display_answers(display: str) -> bool:
    """Connect to the X server with libxcb (what Qt's xcb plugin does first); True if libxcb is
    missing, as the library check reports that."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def check_qt(env: Mapping[str, str] = os.environ, ldd: Ldd | None = None, root: Path | None = None,
             platform: str | None = None) -> Check:
    """Qt's widgets and platform plugin resolve all their shared libraries (as ldd does)."""
    platform = platform or qt_platform(env)
    root = root if root is not None else pyside_dir()
    name = f"Qt platform plugin {platform!r}"
    files, problem = qt_binaries(platform, root)
    if problem:
        fix = "pip install PySide6-Essentials" if root is None else "set QT_QPA_PLATFORM to an installed plugin"
        return Check(name, False, problem, fix=fix)
    if not sys.platform.startswith("linux"):
        return Check(name, True, "shared libraries not checked on this system")
    missing = missing_libraries(files, ldd)
    if not missing:
        return Check(name, True, f"every shared library found ({', '.join(f.name for f in files)})")
    packages, unknown = debian_packages(missing)
    fix = apt_command(packages) if packages else ""
    if unknown:
        fix += ("; and " if fix else "") + f"install the packages providing {', '.join(unknown)}"
    return Check(name, False, f"missing shared libraries: {', '.join(missing)}", missing, packages, fix)


def check_display(env: Mapping[str, str] = os.environ, platform: str | None = None) -> Check:
    """A display server the app's window can open on (a warning only: the CLI needs none)."""
    platform = platform or qt_platform(env)
    problem = display_problem(platform, env)
    if problem:
        return Check("display", False, problem, required=False,
                     fix="start Netwright from a desktop session, or run it under `xvfb-run netwright`; "
                         "QT_QPA_PLATFORM=offscreen draws without a screen")
    return Check("display", True, "headless platform, no display needed" if platform in HEADLESS_PLATFORMS
                 else f"{platform} display available")


def gui_blockers(env: Mapping[str, str] = os.environ, ldd: Ldd | None = None) -> list[Check]:
    """The failed checks that would make Qt abort while opening the window: none when one of the
    platforms Qt tries has its libraries and a display (cheap: one ldd call per platform)."""
    found: list[Check] = []
    for platform in qt_platforms(env):
        checks = [check_qt(env, ldd, platform=platform)]
        if checks[0].ok:
            checks.append(check_display(env, platform))
        failed = [c for c in checks if not c.ok]
        if not failed:
            return []
        found += failed
    return found


# ----------------------------------------------------------------------------- torch, runs folder

def check_torch() -> Check:
    """torch imports; its build (CPU / CUDA version) and the devices it sees."""
    try:
        import torch
    except Exception as err:  # noqa: BLE001 - any import failure is the finding
        return Check("torch", False, f"cannot import torch: {err}",
                     fix="pip install torch (https://pytorch.org/get-started/locally/ for the right build)")
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else (
        f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "CPU")
    devices = [f"cpu ({os.cpu_count()} cores)"]
    try:
        if torch.cuda.is_available():
            devices += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
    except Exception as err:  # noqa: BLE001 - a broken driver is reported, not raised
        return Check("torch", False, f"torch {torch.__version__} ({build} build) cannot query devices: {err}",
                     fix="check the GPU driver (nvidia-smi) or install the CPU build of torch")
    return Check("torch", True, f"torch {torch.__version__} ({build} build); devices: {', '.join(devices)}")


def check_runs_folder(folder: Path) -> Check:
    """The runs folder exists (or can be made) and a file can be written in it."""
    name = "runs folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".netwright-doctor-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        return Check(name, False, f"{folder} is not writable: {err.strerror or err}",
                     fix="set NETWRIGHT_RUNS_DIR to a writable folder (or pass --runs-dir to train)")
    return Check(name, True, f"{folder} is writable")


@dataclass(frozen=True)
class Report:
    """Every check; `ok` when nothing required failed."""

    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok or not c.required for c in self.checks)

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for c in self.checks for p in c.packages))


def diagnose(runs_folder: Path, env: Mapping[str, str] = os.environ, ldd: Ldd | None = None) -> Report:
    """Every check the doctor runs, in the order it prints them."""
    platform = qt_platform(env)
    checks = [check_qt(env, ldd, platform=platform)]
    if platform != "xcb" and sys.platform.startswith("linux"):
        checks.append(check_qt(env, ldd, platform="xcb"))  # what a desktop session will use
    checks += [check_display(env, platform), check_torch(), check_runs_folder(runs_folder)]
    return Report(tuple(checks))
