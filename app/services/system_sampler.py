"""System load, sampled about once a second with psutil (and NVML when it is installed).

`SystemSampler.sample(root_pid)` is plain Python (testable without Qt): CPU per core, memory,
the run's processes (the worker and every descendant: ranks, with CPU and resident memory) and
GPUs. `SystemMonitor` drives it from a QTimer on a private pool thread and emits `sampled`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import psutil
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    role: str  # "worker", "rank 0", "process"
    cpu_percent: float
    rss_bytes: int


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    util_percent: float | None
    mem_used: int
    mem_total: int


@dataclass(frozen=True)
class SystemSample:
    time: float
    cpu_per_core: tuple[float, ...]
    mem_used: int
    mem_total: int
    processes: tuple[ProcessSample, ...] = ()
    gpus: tuple[GpuSample, ...] = ()


def _nvml():
    """The NVML module when installed and a driver answers, else None."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def gpu_samples(nvml: Any) -> tuple[GpuSample, ...]:
    """Utilization and memory of every NVIDIA GPU through NVML."""
    out = []
    try:
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(handle)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            util = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            out.append(GpuSample(i, name.decode() if isinstance(name, bytes) else str(name), float(util),
                                 int(mem.used), int(mem.total)))
    except Exception:
        pass
    return tuple(out)


def gpus_from_event(event: Mapping[str, Any]) -> tuple[GpuSample, ...]:
    """GPU samples reported by the worker (a `system` event with a `gpus` list of
    {index, name, util, mem_used, mem_total}), used when NVML is not available here."""
    out = []
    for i, gpu in enumerate(event.get("gpus") or ()):
        if isinstance(gpu, Mapping):
            util = gpu.get("util", gpu.get("util_percent"))
            out.append(GpuSample(int(gpu.get("index", i)), str(gpu.get("name", f"cuda:{i}")),
                                 None if util is None else float(util),
                                 int(gpu.get("mem_used", 0) or 0), int(gpu.get("mem_total", 0) or 0)))
    return tuple(out)


class SystemSampler:
    """Keeps psutil.Process objects between calls so CPU percentages are per-interval deltas."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._nvml = _nvml()
        psutil.cpu_percent(percpu=True)  # prime the per-core counters

    @property
    def has_nvml(self) -> bool:
        return self._nvml is not None

    def sample(self, root_pid: int | None = None, ranks: Mapping[int, int] | None = None) -> SystemSample:
        """One sample. `root_pid` is the run's worker; `ranks` optionally maps pid -> rank."""
        mem = psutil.virtual_memory()
        processes = self._processes(root_pid, ranks or {}) if root_pid else ()
        gpus = gpu_samples(self._nvml) if self._nvml is not None else ()
        return SystemSample(time.time(), tuple(psutil.cpu_percent(percpu=True)), int(mem.total - mem.available),
                            int(mem.total), processes, gpus)

    def _processes(self, root_pid: int, ranks: Mapping[int, int]) -> tuple[ProcessSample, ...]:
        try:
            root = self._procs.get(root_pid) or psutil.Process(root_pid)
            if root_pid in ranks:  # a re-attached run records rank 0's pid: its parent is the worker
                parent = root.parent()
                if parent is not None and parent.pid > 1:
                    root, root_pid = parent, parent.pid
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            self._procs.clear()
            return ()
        out, seen, child_index = [], set(), 0
        for proc in family:
            proc = self._procs.setdefault(proc.pid, proc)
            seen.add(proc.pid)
            try:
                with proc.oneshot():
                    cmdline = " ".join(proc.cmdline())
                    if "resource_tracker" in cmdline:
                        continue
                    cpu, rss = proc.cpu_percent(None), proc.memory_info().rss
            except psutil.Error:
                continue
            if proc.pid in ranks:
                role = f"rank {ranks[proc.pid]}"
            elif proc.pid == root_pid:
                role = "worker"
            else:
                role = f"process {child_index}"
                child_index += 1
            out.append(ProcessSample(proc.pid, role, float(cpu), int(rss)))
        for pid in list(self._procs):
            if pid not in seen:
                del self._procs[pid]
        return tuple(out)


class _Signals(QObject):
    done = Signal(object)


def run_ranks(run_dir: Path | None) -> dict[int, int]:
    """{pid: global rank} of a run's ranks on this machine (the worker notes them in RUN_DIR/ranks)."""
    if run_dir is None:
        return {}
    from engine.worker import rank_pids

    return {pid: rank for rank, pid in rank_pids(run_dir).items()}


class _SampleTask(QRunnable):
    def __init__(self, sampler: SystemSampler, pid: int | None, run_dir: Path | None, signals: _Signals):
        super().__init__()
        self.pid, self.run_dir, self.sampler, self.signals = pid, run_dir, sampler, signals

    def run(self) -> None:  # pool thread
        try:
            ranks = run_ranks(self.run_dir) if self.pid else {}
            self.signals.done.emit(self.sampler.sample(self.pid, ranks))
        except Exception:  # psutil races with exiting processes; the next tick tries again
            self.signals.done.emit(None)


class SystemMonitor(QObject):
    """Samples once a second while started; emits `sampled(SystemSample)` on the GUI thread."""

    sampled = Signal(object)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 1000):
        super().__init__(parent)
        self._sampler: SystemSampler | None = None
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)
        self._timer = QTimer(self, interval=interval_ms, timeout=self._tick)
        self._busy = False
        self.pid: int | None = None  # the run's worker
        self.run_dir: Path | None = None  # where the worker notes its ranks' pids

    def start(self) -> None:
        if not self._timer.isActive():
            self._timer.start()
            self._tick()

    def stop(self) -> None:
        self._timer.stop()

    def wait_idle(self, msecs: int = 3000) -> bool:
        return self._pool.waitForDone(msecs)

    @Slot()
    def _tick(self) -> None:
        if self._busy:
            return
        if self._sampler is None:
            self._sampler = SystemSampler()
        self._busy = True
        self._pool.start(_SampleTask(self._sampler, self.pid, self.run_dir, self._signals))

    @Slot(object)
    def _on_done(self, sample: SystemSample | None) -> None:
        self._busy = False
        if sample is not None:
            self.sampled.emit(sample)
