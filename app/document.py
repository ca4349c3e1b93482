"""SpecDocument: the one experiment spec the window edits, with undo, dirty state and caches.

Every page reads `document.spec` and changes it only through :meth:`SpecDocument.edit`, which
pushes an undoable command onto `undo_stack`; undo/redo restore the exact previous spec object.
Derived information (shape inference, data description, validation) is computed on demand
and cached per spec, so several pages asking for it after one edit cost one computation. Two
things load on a thread, so the window never freezes: the data engine at start-up, and a model
library (torchvision, timm, transformers) the first time a Pretrained layer's shapes are needed.
"""
from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Hashable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.paths import EXAMPLES
from engine.problems import Problem, SpecError
from engine.spec import ExperimentSpec, load_spec, save_spec

DEFAULT_TEMPLATE = "digits_cnn"
_MERGE_ID = 0x4E57  # any constant: commands that may merge share this id


class _EditCommand(QUndoCommand):
    """Replace the document's spec; undo puts the old one back. Consecutive edits with the same
    `merge_key` (e.g. typing in one spin box) merge into one undo step."""

    def __init__(self, document: "SpecDocument", old: ExperimentSpec, new: ExperimentSpec, text: str,
                 merge_key: Hashable | None):
        super().__init__(text)
        self._document, self._old, self._new, self._merge_key = document, old, new, merge_key

    def redo(self) -> None:
        self._document._replace(self._new)

    def undo(self) -> None:
        self._document._replace(self._old)

    def id(self) -> int:
        return _MERGE_ID if self._merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, _EditCommand) or other._merge_key != self._merge_key:
            return False
        self._new = other._new
        self.setText(other.text())
        return True


class _Relay(QObject):
    """Carries a thread's result to the GUI thread."""

    done = Signal()
    report = Signal(object)  # (key, report or None): a model's shapes inferred on a thread

    def tell(self, signal: Any, *args: Any) -> None:
        """Emit from a thread; nothing when the document was deleted meanwhile (the window closed)."""
        try:
            signal.emit(*args)
        except RuntimeError:  # "Signal source has been deleted"
            pass


class SpecDocument(QObject):
    """Holds `spec`, `path` and `undo_stack`; emits `specChanged(spec)`, `dirtyChanged(bool)`,
    `pathChanged(path or None)`, and `reportReady()` when a model's shapes inferred on a thread
    have come (the Build page redraws; nothing else changed)."""

    specChanged = Signal(object)
    reportReady = Signal()
    dirtyChanged = Signal(bool)
    pathChanged = Signal(object)

    def __init__(self, spec: ExperimentSpec | None = None, path: Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.spec: ExperimentSpec = spec if spec is not None else ExperimentSpec()
        self.path: Path | None = Path(path) if path is not None else None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._data_loading = False
        self._data_thread: threading.Thread | None = None
        self._relay = _Relay(self)
        self._relay.done.connect(self._data_engine_ready)
        self._relay.report.connect(self._report_ready)
        self._libraries: tuple[str, ...] = ()  # the model libraries a thread is importing (see report)
        self._tried: Any = None  # the last (model, data) inferred on a thread: not sent there twice
        self._waiting: Any = None  # the (model, data) whose report is pending on a thread's import

    def _clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(not clean)

    # -- state -------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """True when the spec differs from the last saved / loaded state."""
        return not self.undo_stack.isClean()

    def display_name(self) -> str:
        """The name for the title bar: the spec's name, else the file name."""
        return self.spec.name or (self.path.stem if self.path else "untitled")

    # -- editing -----------------------------------------------------------------------
    def edit(self, new_spec: ExperimentSpec, text: str, merge_key: Hashable | None = None) -> None:
        """Make `new_spec` the current spec as one undoable step named `text`.
        Edits equal to the current spec are ignored."""
        if new_spec == self.spec:
            return
        self.undo_stack.push(_EditCommand(self, self.spec, new_spec, text, merge_key))

    def apply_fix(self, problem: "Problem") -> None:
        """Apply a problem's fix (its ``--set`` assignments) as one undoable edit."""
        from engine.spec import apply_overrides

        self.edit(apply_overrides(self.spec, problem.fix), "Fix: " + ", ".join(problem.fix))

    def reset(self, spec: ExperimentSpec, path: Path | None = None) -> None:
        """Replace the whole document (new / open): clears undo history, marks it clean."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._set_path(Path(path) if path is not None else None)
        self._replace(spec)
        self.dirtyChanged.emit(False)

    def _replace(self, spec: ExperimentSpec) -> None:
        self.spec = spec
        self.specChanged.emit(spec)

    def _set_path(self, path: Path | None) -> None:
        if path != self.path:
            self.path = path
            self.pathChanged.emit(path)

    # -- files -------------------------------------------------------------------------
    def load(self, path: str | Path) -> None:
        """Open a spec file. Raises SpecError (naming the file) if it cannot be read or parsed;
        a readable file with problems opens, and its problems are shown by the pages."""
        spec = load_spec(path)
        self.reset(spec, Path(path))

    def load_template(self, name: str = DEFAULT_TEMPLATE) -> None:
        """Start a new, unsaved experiment from engine/resources/examples/<name>.toml."""
        self.reset(load_spec(EXAMPLES / f"{name}.toml"), None)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the spec as TOML (the same file the CLI runs); marks the document clean."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise SpecError([Problem("", "no file chosen — use Save As to pick where to save")])
        try:
            save_spec(self.spec, target)
        except OSError as err:
            raise SpecError([Problem(str(target), f"cannot be written: {err.strerror or err}")]) from None
        self._set_path(target)
        self.undo_stack.setClean()
        return target

    # -- the data engine, loaded in the background at startup ------------------------
    def load_data_engine_in_background(self) -> None:
        """Import `engine.data` (numpy, scikit-learn: about a second) on a thread, so the window
        paints first. Until it is loaded :meth:`data_pending` is True and :meth:`data_info` is None;
        then `specChanged` is emitted again so every page shows the data-dependent shapes."""
        if self._data_thread is not None:
            return
        if "engine.data" in sys.modules:
            if self._data_loading:
                self._data_engine_ready()
            return
        self._data_loading = True

        def load() -> None:
            try:
                importlib.import_module("engine.data")
            except Exception:  # reported when the data is described on the GUI thread
                pass
            self._relay.tell(self._relay.done)

        self._data_thread = threading.Thread(target=load, name="netwright-data-import", daemon=True)
        self._data_thread.start()

    def defer_data_engine(self) -> None:
        """Hold back the data engine until :meth:`load_data_engine_in_background` (the launcher
        calls it right after the first paint, so the import does not compete with it)."""
        if "engine.data" not in sys.modules:
            self._data_loading = True

    def data_pending(self) -> bool:
        """True while the data engine is still loading (shapes are shown a moment later)."""
        return self._data_loading

    def _data_engine_ready(self) -> None:
        self._data_loading = False
        self._cache.clear()
        self.specChanged.emit(self.spec)

    # -- derived, cached ---------------------------------------------------------------
    def _cached(self, key: str, dependency: Any, compute: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None and (hit[0] is dependency or hit[0] == dependency):
            return hit[1]
        value = compute()
        self._cache[key] = (dependency, value)
        return value

    def data_info(self):
        """`engine.data.DataInfo` for the current data section, or None if the data is broken
        (its problems are then in :meth:`problems`), or while :meth:`data_pending`."""
        if self._data_loading:
            return None

        def compute():
            from engine.data import describe_data

            try:
                return describe_data(self.spec.data)
            except SpecError:
                return None

        return self._cached("data_info", self.spec.data, compute)

    def report(self):
        """Pure shape inference of the model on the current data (`engine.shapes.ModelReport`).
        While the data engine or a model library loads, the report of the layers alone (no input
        shape); :meth:`pending` says what it waits for."""
        from engine.shapes import infer_model

        info = self.data_info()
        if self._data_loading:
            return infer_model(self.spec.model.layers, None, "float32", None)
        if info is None:
            return self._cached("report", (self.spec.model, info),
                                lambda: infer_model(self.spec.model.layers, None, "float32", None))
        key = (self.spec.model, info)
        hit = self._cache.get("report")
        if hit is not None and hit[0] == key:
            return hit[1]
        if self._wait_for_libraries(key, info):
            return infer_model(self.spec.model.layers, None, "float32", None)
        return self._cached("report", key, lambda: infer_model(self.spec.model.layers, tuple(info.input_shape),
                                                                info.input_dtype, info.num_classes))

    def _wait_for_libraries(self, key: Any, info: Any) -> bool:
        """Whether this model's shapes wait for a model library's first import (seconds), which a
        thread then does (one at a time) before inferring them; False: inferred here."""
        from engine.layers.pretrained import libraries_to_import

        libraries = libraries_to_import(self.spec.model.layers)
        self._waiting = key if libraries else None
        if libraries and self._libraries:  # a thread is importing them already; its result redraws the Build page
            return True
        if not libraries or key == self._tried:  # (this key's thread failed: inferred here, which reports why)
            self._waiting = None
            return False
        self._libraries, self._tried = libraries, key
        layers = self.spec.model.layers

        def infer() -> None:
            from engine.shapes import infer_model

            try:
                report = infer_model(layers, tuple(info.input_shape), info.input_dtype, info.num_classes)
            except Exception:  # noqa: BLE001  (inferred again on the GUI thread, which reports it)
                report = None
            self._relay.tell(self._relay.report, (key, report))

        threading.Thread(target=infer, name="netwright-model-library", daemon=True).start()
        return True

    def _report_ready(self, found: tuple[Any, Any]) -> None:
        key, report = found
        self._libraries = ()
        if report is not None:
            self._cache["report"] = (key, report)
        self.reportReady.emit()  # (a later edit's model infers on the GUI thread now: imported)

    def pending(self) -> str:
        """What the model's shapes wait for ("loading the data", "loading torch, torchvision"), or ""."""
        if self._data_loading:
            return "loading the data"
        self.report()  # (cached) decides whether this model waits for a library
        waiting = bool(self._libraries) and self._waiting == (self.spec.model, self.data_info())
        return f"loading {', '.join(self._libraries)}" if waiting else ""

    def model_problems(self) -> list[Problem]:
        """The model's problems on the current data: shape inference plus whether the output fits
        the task (what `engine.shapes.check_model` reports), from the cached report."""
        report, info = self.report(), self.data_info()
        if info is None or self.pending():  # (no shapes yet: whether the output fits the task is not known)
            return list(report.problems)
        from engine.shapes import task_problems

        return list(report.problems) + list(task_problems(report, info.task, info.num_classes))

    def data_problems(self) -> list[Problem]:
        """The data section's problems (its options schema and `describe_data`), cached per
        data section; empty while :meth:`data_pending`."""
        if self._data_loading:
            return []

        def compute():
            from engine.data import check_data

            return list(check_data(self.spec))

        return self._cached("data_problems", self.spec.data, compute)

    def problems(self) -> list[Problem]:
        """Every problem in the spec (`engine.validation.validate`), cached per spec."""
        from engine.validation import validate  # loads engine.data (numpy, scikit-learn): after the first paint

        return self._cached("problems", self.spec, lambda: list(validate(self.spec)))
