"""Launchers: who starts a run's ranks, and where — a registry beside the strategies.

``LAUNCHERS`` (defined in engine.spec, which types the ``[launcher]`` section with it) maps a
kind to a :class:`Launcher` class; importing this package registers the built-in ones:

- ``local`` (engine.launchers.local): the worker process on this machine, torch's elastic
  launcher starts the ranks (today's behaviour; the default when a spec has no [launcher]);
- ``slurm`` (engine.launchers.slurm): an sbatch script in the run directory, ranks started by
  ``srun`` + torch's elastic launcher, submitted with ``sbatch`` here or on a login node (ssh);
- ``ray`` (engine.launchers.ray): a Ray job on a Ray cluster, one actor per rank.

A spec selects one with::

    [launcher]
    kind = "slurm"
    partition = "gpu"        # the kind's own options, flat, typed by its `params`

The interface (engine.launchers.base; a new launcher is one class in one file here)::

    @register
    class MyLauncher(Launcher):
        name = "mine"; label = "My cluster"; description = "..."
        params = (Param("address", "str", "", "..."), ...)   # the [launcher] options -> GUI form
        scheduled = True                  # job ids and job states exist (False: local)

        def script(self, run_dir, spec) -> str              # what `plan` and the plan panel show
        def check(self, spec, plan=None) -> list[Problem]   # pure checks, field paths named
        def preflight(self, run, spec) -> list[Problem]     # I/O checks right before submitting
        def submit(self, run, spec, *, resume=False) -> Submission
        def job_state(self, run) -> JobState | None         # PENDING+reason/RUNNING/COMPLETED/...
        def cancel(self, run) -> bool                       # scancel / ray job stop

- An instance holds its options checked with defaults filled (``launcher.partition``).
- ``submit`` records ``launcher`` and ``job_id`` in the run's status.json (engine.runs.Status)
  before it returns, raises :class:`LaunchError` (problems naming the field: a missing tool with
  the package to install, an unreachable host, a run directory the nodes cannot see).
- Stop / pause / resume go through the run directory (control.json) as for local runs: the
  ranks read it wherever they run. ``cancel`` is the scheduler's last resort.
- ``job_state`` never raises for a scheduler that does not answer (state UNKNOWN, reason says why).

:func:`launcher_of` gives the launcher of a spec, :func:`launcher_for_run` the one a run was
submitted with, :func:`job_state_of` its job's state (what `runs`, the Monitor and `stop` show),
:func:`planned_script` what a new run of a spec would submit (what `plan` shows).
"""
from __future__ import annotations

import importlib
import pkgutil

from engine.launchers.base import (JOB_FINAL, JOB_STATES, JobState, LaunchError, Launcher, Submission, job_state_of,
                                   launcher_for_run, launcher_of, planned_script, register)
from engine.spec import LAUNCHERS

_FIRST = ("local", "slurm", "ray")
_found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "base")
for _name in [*(n for n in _FIRST if n in _found), *(n for n in _found if n not in _FIRST)]:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["JOB_FINAL", "JOB_STATES", "LAUNCHERS", "JobState", "LaunchError", "Launcher", "Submission",
           "job_state_of", "launcher_for_run", "launcher_of", "planned_script", "register"]
