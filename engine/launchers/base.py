"""The Launcher contract (see the package docstring): one class per place ranks can start."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from engine.problems import Problem
from engine.registry import Param, check_options
from engine.spec import LAUNCHERS

if TYPE_CHECKING:  # pragma: no cover
    import subprocess

    from engine.runs import RunDir
    from engine.spec import ExperimentSpec

#: scheduler job states, as Slurm names them (Ray's map onto these)
JOB_STATES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "PREEMPTED", "NODE_FAIL",
              "OUT_OF_MEMORY", "REQUEUED", "SUSPENDED", "UNKNOWN")
#: states after which the job never runs again (REQUEUED / PREEMPTED go back to PENDING)
JOB_FINAL = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY")


@dataclass(frozen=True)
class JobState:
    """A scheduler's word on a run's job: `state` (one of JOB_STATES), Slurm's `reason` for a
    pending job ("Resources", "PartitionNodeLimit", ...), the nodes it runs on and, for an ended
    job, its exit code and a `message` saying what it means for the run."""

    job_id: str
    state: str
    reason: str = ""
    nodes: str = ""
    exit_code: str = ""
    message: str = ""

    @property
    def final(self) -> bool:
        return self.state in JOB_FINAL

    def describe(self) -> str:
        """One line: ``job 42 PENDING (Resources)``, ``job 42 FAILED (exit 3): message``."""
        text = f"job {self.job_id} {self.state}"
        if self.reason and self.reason not in ("None", "(null)"):
            text += f" ({self.reason})"
        elif self.exit_code and self.state not in ("PENDING", "RUNNING", "COMPLETED"):
            text += f" (exit {self.exit_code})"
        if self.state == "RUNNING" and self.nodes:
            text += f" on {self.nodes}"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class Submission:
    """What :meth:`Launcher.submit` started: the scheduler's job id (None for local), the local
    process when there is one to reap (the local worker; an sbatch or ray client has exited),
    and the script file it wrote into the run directory (None when it wrote none)."""

    job_id: str | None = None
    process: "subprocess.Popen | None" = None
    script: Path | None = None


class LaunchError(RuntimeError):
    """Submitting failed; `problems` name the launcher field or file and what to do."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class Launcher:
    """Base class: subclass, set the class attributes, implement the methods, decorate with
    :func:`register`. An instance holds the [launcher] options, checked and with defaults."""

    name: ClassVar[str] = ""
    #: what the Train page's "Where" box shows ("This machine", "Slurm", "Ray")
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the [launcher] options of this kind (the GUI's form is built from them)
    params: ClassVar[tuple[Param, ...]] = ()
    #: True when the ranks run somewhere a scheduler decides (job ids and job states exist)
    scheduled: ClassVar[bool] = True

    def __init__(self, options: Mapping[str, Any] | None = None):
        resolved, _ = check_options(self.params, dict(options or {}), "launcher", what=f"launcher {self.name}")
        self.options: dict[str, Any] = resolved

    def __getattr__(self, name: str) -> Any:  # launcher.partition -> the option's value
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or option {name!r}")

    # -- before submitting (the plan) --------------------------------------------------
    def script(self, run_dir: str | Path, spec: "ExperimentSpec") -> str:
        """The script or command line that :meth:`submit` would run for `spec` in `run_dir`
        (the plan panel and `plan` show it before anything is submitted; pure, no I/O)."""
        raise NotImplementedError

    def check(self, spec: "ExperimentSpec", plan: Any = None) -> list[Problem]:
        """Problems of `spec` for this launcher that need no I/O (layout, options); `plan`: the
        parallel plan summary when the caller has one. Each Problem names its field path."""
        return []

    def preflight(self, run: "RunDir", spec: "ExperimentSpec") -> list[Problem]:
        """Checks with I/O right before submitting: the scheduler's tools are installed, the
        cluster answers, the run directory is shared with the nodes (a probe file)."""
        return []

    # -- submitting and watching ---------------------------------------------------------
    def submit(self, run: "RunDir", spec: "ExperimentSpec", *, resume: bool = False) -> Submission:
        """Start the run (or resume it from its last checkpoint) and record the job in its
        status (`launcher`, `job_id`). Raises LaunchError naming what is wrong."""
        raise NotImplementedError

    def job_state(self, run: "RunDir") -> JobState | None:
        """The scheduler's state of the run's job, or None when there is no job (local, or not
        submitted yet). Never raises for an unreachable scheduler: the state is UNKNOWN then."""
        return None

    def cancel(self, run: "RunDir") -> bool:
        """End the run's job through the scheduler (scancel, ray job stop): the last resort when
        a stop request through the run directory is not answered. True when a job was asked to end."""
        return False


def register(cls: type[Launcher]) -> type[Launcher]:
    """Class decorator: add a Launcher subclass to LAUNCHERS under its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    LAUNCHERS.add(cls.name, cls, params=cls.params, description=cls.description, label=cls.label)
    return cls


def launcher_of(spec: "ExperimentSpec") -> Launcher:
    """The launcher object of `spec`'s [launcher] section (its options checked, defaults filled)."""
    return LAUNCHERS.get(spec.launcher.kind).obj(spec.launcher.options)


def launcher_for_run(run: "RunDir") -> Launcher:
    """The launcher a run was submitted with (its status records the kind; else its spec's)."""
    from engine.runs import load_status

    kind = load_status(run).launcher
    if kind and kind in LAUNCHERS:
        try:
            options = run.load_spec().launcher.options if run.load_spec().launcher.kind == kind else {}
        except Exception:  # an unreadable spec still has a job to watch
            options = {}
        return LAUNCHERS.get(kind).obj(options)
    return launcher_of(run.load_spec())


def job_state_of(run_dir: "str | Path") -> JobState | None:
    """The scheduler's state of the job of the run in `run_dir`; None for a run without a job
    (local). Never raises: a broken spec or launcher gives state UNKNOWN with the reason."""
    from engine.runs import RunDir, load_status

    run = RunDir(Path(run_dir))
    job_id = load_status(run).job_id
    if not job_id:
        return None
    try:
        return launcher_for_run(run).job_state(run)
    except Exception as err:  # the caller shows every run's state; one broken run must not hide the rest
        return JobState(str(job_id), "UNKNOWN", reason=f"{type(err).__name__}: {err}")


def planned_script(spec: "ExperimentSpec", runs_dir: "str | Path") -> str:
    """The script or command the spec's launcher would submit for a new run under `runs_dir`
    (the run's folder is named RUN_ID until it exists): what the plan shows."""
    return launcher_of(spec).script(Path(runs_dir) / "RUN_ID", spec)
