"""The run directory: its layout (RunDir), owner lock, status, control requests and listing.

Pure data: no torch at import. See rundir.py for the folder's layout."""
from __future__ import annotations

from engine.events import read_events  # noqa: F401  (re-exported: the GUI tails with it)
from engine.runs.control import CONTROL_ACTIONS, clear_control, read_control, request_control
from engine.runs.listing import RunSummary, list_runs, read_exports, summarize
from engine.runs.lock import RunBusy, acquire, lock_state, owned, owns, read_owner, release
from engine.runs.rundir import RunDir
from engine.runs.session import begin_session, claim, end_session, run_summary
from engine.runs.status import (ACTIVE, FINAL, STATUSES, Status, effective_status, load_status, process_alive,
                                read_status, write_status)

__all__ = ["RunDir", "RunSummary", "Status", "RunBusy", "read_events", "read_status", "load_status", "write_status",
           "effective_status", "read_exports", "request_control", "read_control", "clear_control", "list_runs", "summarize",
           "process_alive", "acquire", "release", "owned", "owns", "lock_state", "read_owner", "STATUSES", "ACTIVE", "FINAL",
           "CONTROL_ACTIONS", "claim", "begin_session", "end_session", "run_summary"]
