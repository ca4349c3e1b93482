"""Train page: optimizer, schedule (with a preview of the learning rate), regularization,
training and parallelism forms generated from the registries and section schemas; the plan
before launch; and the Train button (disabled while any problem is open)."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget,
)

from app.services.tasks import BackgroundCall
from app.services.window_services import services_of
from app.services.train_plan import TrainPlan, compute_plan
from app.widgets.lr_preview import LrPreview
from app.widgets.plan_panel import PlanPanel
from app.widgets.schema_form import SchemaForm
from app.widgets.where_box import WhereBox
from engine.registry import Param, Registry
from engine.spec import DistillSpec, ExperimentSpec, ParallelSpec, RegularizationSpec, TrainingSpec, section_params


@dataclasses.dataclass(frozen=True)
class Section:
    """One form on the page: a spec section, edited either through a registry entry's
    options (`registry`, with the entry's name as the first field) or through the section's
    own schema (`params`)."""

    key: str
    title: str
    registry: Callable[[], Registry] | None = None
    params: tuple[Param, ...] = ()


def _optimizers() -> Registry:
    from engine.optim import OPTIMIZERS

    return OPTIMIZERS


def _schedulers() -> Registry:
    from engine.schedulers import SCHEDULERS

    return SCHEDULERS


SECTIONS: tuple[Section, ...] = (
    Section("optimizer", "Optimizer", registry=_optimizers),
    Section("scheduler", "Learning-rate schedule", registry=_schedulers),
    Section("training", "Training", params=section_params(TrainingSpec)),
    Section("regularization", "Regularization", params=section_params(RegularizationSpec)),
    Section("parallel", "Parallelism", params=section_params(ParallelSpec)),
    Section("distill", "Distillation (from a teacher run)", params=section_params(DistillSpec)),
)


def name_param(section: Section, registry: Registry) -> Param:
    help_text = "; ".join(f"{e.name}: {e.description}" for e in registry)
    return Param("name", "choice", registry.names()[0], help_text, choices=tuple(registry.names()),
                 label=section.title.split()[-1].capitalize())


def section_values(spec: ExperimentSpec, section: Section) -> dict[str, Any]:
    value = getattr(spec, section.key)
    if section.registry is not None:
        return {"name": value.name, **dict(value.options)}
    return {p.name: getattr(value, p.name) for p in section.params}


def with_value(spec: ExperimentSpec, section: Section, name: str, value: Any) -> ExperimentSpec:
    """The spec with one field of `section` changed. Choosing another registry entry keeps the
    options the new entry also takes (e.g. the learning rate when switching optimizer)."""
    current = getattr(spec, section.key)
    if section.registry is None:
        new = dataclasses.replace(current, **{name: value})
    elif name == "name":
        entry = section.registry().get(value)
        keep = {p.name for p in entry.params}
        new = dataclasses.replace(current, name=value, options={k: v for k, v in current.options.items() if k in keep})
    else:
        new = dataclasses.replace(current, options={**current.options, name: value})
    return dataclasses.replace(spec, **{section.key: new})


class TrainPage(QWidget):
    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.setObjectName("trainPage")
        self.window_ = window
        self.document = window.document
        services = services or services_of(window, self)
        self.run_service = services.runs
        self.problems = services.problems
        self.forms: dict[str, SchemaForm] = {}
        self.plan: TrainPlan | None = None
        self._planner = BackgroundCall(self)
        self._planner.finished.connect(self._show_plan)
        self._planner.failed.connect(self._plan_failed)
        self._plan_timer = QTimer(self, singleShot=True, interval=150, timeout=self.refresh_plan)
        self._train_when_ready = False
        self._build()
        self.document.specChanged.connect(self._spec_changed)
        self._sync_forms()
        self._set_planning()
        self._plan_timer.start()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        header = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(QLabel("Train", objectName="pageTitle"))
        self.subtitle = QLabel("Choose how to train, check the plan, then press Train.", objectName="pageSubtitle")
        titles.addWidget(self.subtitle)
        header.addLayout(titles, 1)
        self.train_button = QPushButton("Train", objectName="trainButton")
        self.train_button.setMinimumSize(140, 36)
        self.train_button.setStyleSheet(
            "QPushButton#trainButton { font-weight: 600; color: white; background: #2f8f5b; border: none;"
            " border-radius: 6px; padding: 6px 18px; }"
            "QPushButton#trainButton:hover { background: #277a4d; }"
            "QPushButton#trainButton:disabled { background: palette(mid); color: palette(window); }")
        self.train_button.clicked.connect(self.train)
        header.addWidget(self.train_button)
        outer.addLayout(header)

        body = QHBoxLayout()
        forms = QWidget(objectName="trainForms")
        grid = QGridLayout(forms)
        grid.setContentsMargins(0, 0, 8, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(12)
        columns = {"optimizer": (0, 0), "scheduler": (1, 0), "training": (0, 1), "regularization": (1, 1),
                   "parallel": (2, 0), "distill": (3, 0)}
        for section in SECTIONS:
            panel = self._section_panel(section)
            row, col = columns[section.key]
            grid.addWidget(panel, row, col, Qt.AlignmentFlag.AlignTop)
        self.where = WhereBox()
        self.where.kindChosen.connect(self._launcher_chosen)
        self.where.optionChanged.connect(self._launcher_edited)
        grid.addWidget(self.where, 2, 1, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(4, 1)
        scroll = QScrollArea(objectName="trainScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(forms)
        body.addWidget(scroll, 3)
        self.plan_panel = PlanPanel()
        self.plan_panel.setMinimumWidth(300)
        self.plan_panel.setMaximumWidth(400)
        self.plan_panel.problemActivated.connect(self.focus_problem)
        body.addWidget(self.plan_panel, 1)
        outer.addLayout(body, 1)

    def _section_panel(self, section: Section) -> QFrame:
        panel = QFrame(objectName="panel")
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addWidget(QLabel(section.title.upper(), objectName="sectionTitle"))
        form = SchemaForm(self._params(section, self.document.spec), show_help=False)
        form.setObjectName(f"{section.key}Form")
        form.valueChanged.connect(lambda name, value, s=section: self._edited(s, name, value))
        layout.addWidget(form)
        self.forms[section.key] = form
        if section.key == "scheduler":
            self.lr_preview = LrPreview()
            layout.addWidget(self.lr_preview)
        return panel

    def _params(self, section: Section, spec: ExperimentSpec) -> tuple[Param, ...]:
        if section.registry is None:
            return section.params
        registry = section.registry()
        name = getattr(spec, section.key).name
        entry_params = registry.get(name).params if name in registry else ()
        return (name_param(section, registry), *entry_params)

    # ------------------------------------------------------------------ editing
    def _edited(self, section: Section, name: str, value: Any) -> None:
        spec = self.document.spec
        if section_values(spec, section).get(name) == value:
            return
        self.forms[section.key].clear_problem(name)  # at once; the new plan says if another remains
        new = with_value(spec, section, name, value)
        self.document.edit(new, f"Set {section.key}.{name}", merge_key=(section.key, name))

    def _launcher_chosen(self, kind: str) -> None:
        """Another "Where": the launcher's options it shares with the old one are kept."""
        from engine.spec import LAUNCHERS, LauncherSpec

        spec = self.document.spec
        keep = {p.name for p in LAUNCHERS.get(kind).params} if kind in LAUNCHERS else set()
        launcher = LauncherSpec(kind=kind, options={k: v for k, v in spec.launcher.options.items() if k in keep})
        self.document.edit(dataclasses.replace(spec, launcher=launcher), f"Train on {self.where.buttons[kind].text()}")

    def _launcher_edited(self, name: str, value: Any) -> None:
        spec = self.document.spec
        if spec.launcher.options.get(name) == value:
            return
        self.where.form.clear_problem(name)
        launcher = dataclasses.replace(spec.launcher, options={**spec.launcher.options, name: value})
        self.document.edit(dataclasses.replace(spec, launcher=launcher), f"Set launcher.{name}", merge_key=("launcher", name))

    def _spec_changed(self, _spec: Any = None) -> None:
        self._sync_forms()
        self._set_planning()
        self.plan_panel.set_busy()
        self._plan_timer.start()

    def _set_planning(self) -> None:
        """Until the plan for the current spec is ready, the button says so and cannot be pressed."""
        self.train_button.setEnabled(False)
        self.train_button.setText("Planning…")
        self.train_button.setToolTip("Checking the plan for this spec (data, layout, memory)…")

    def _set_ready(self, problems: int) -> None:
        self.train_button.setText("Train")
        self.train_button.setEnabled(problems == 0)
        remote = self.document.spec.launcher.remote
        if remote and problems == 0:
            self.train_button.setText("Submit")
        self.train_button.setToolTip(("Submit the run to the cluster; the Monitor shows its job" if remote else
                                      "Start training in a background worker") if problems == 0 else
                                     f"{problems} problem(s) must be fixed first — see the plan")

    def _sync_forms(self) -> None:
        spec = self.document.spec
        for section in SECTIONS:
            form = self.forms[section.key]
            params = self._params(section, spec)
            if params != form.params:
                form.set_params(params, section_values(spec, section))
            else:
                form.set_values(section_values(spec, section))
        self.where.show_launcher(spec.launcher.kind, spec.launcher.options)

    # ------------------------------------------------------------------ plan
    def refresh_plan(self) -> None:
        """Recompute the plan for the current spec (off the GUI thread)."""
        self._planner.call(compute_plan, self.document.spec, self.run_service.runs_dir)

    def _show_plan(self, plan: TrainPlan) -> None:
        if plan.spec != self.document.spec:  # an edit came in meanwhile; its plan is on its way
            return
        self.plan = plan
        self.plan_panel.set_plan(plan)
        if self.problems is not None:
            self.problems.merge(plan.spec, plan.problems)  # e.g. a data file that fails to load
        if plan.lr:
            self.lr_preview.set_curve(plan.lr)
        else:
            self.lr_preview.set_unavailable("No preview: fix the problems listed in the plan.")
        by_section: dict[str, dict[str, str]] = {s.key: {} for s in SECTIONS} | {"launcher": {}}
        for problem in plan.problems:
            head, _, field = problem.path.partition(".")
            if head in by_section and field:
                by_section[head].setdefault(field.split(".")[0].split("[")[0], problem.message)
        for key, problems in by_section.items():
            (self.where.form if key == "launcher" else self.forms[key]).set_problems(problems)
        self._set_ready(len(plan.problems))
        if self._train_when_ready:
            self._train_when_ready = False
            if plan.ok:
                self.train()

    def _plan_failed(self, message: str) -> None:
        self._train_when_ready = False
        self.train_button.setText("Train")
        self.train_button.setEnabled(False)
        self.train_button.setToolTip(message.splitlines()[0])
        self.plan_panel.problems_title.setText("PROBLEMS — the plan could not be computed")
        self.plan_panel.problems.clear()
        self.plan_panel.problems.addItem(message.splitlines()[0])

    def focus_problem(self, path: str) -> None:
        """Put the keyboard focus on the field a problem names (other pages' fields: show that page)."""
        head, _, field = path.partition(".")
        if head == "launcher" and field in {p.name for p in self.where.form.params}:
            self.where.form.editor(field).setFocus()
        elif head in self.forms:
            try:
                self.forms[head].editor(field.split(".")[0].split("[")[0]).setFocus()
            except KeyError:
                pass
        elif head in ("model", "data") and self.window_ is not None:
            self.window_.show_page("build" if head == "model" else "data")

    # ------------------------------------------------------------------ launch
    def plan_ready(self) -> bool:
        """True when the plan shown is the current spec's."""
        return self.plan is not None and self.plan.spec == self.document.spec

    def train(self) -> None:
        """Start a run of the current spec and show it in the Monitor. Asked while the plan is
        still being computed (a shortcut, a script), it starts as soon as the plan is ready and
        has no problem; a plan with problems is shown instead of starting."""
        if not self.plan_ready():
            self._train_when_ready = True
            return
        if not self.plan.ok:
            return
        self.run_service.start(self.document.spec)
        self.window_.show_page("monitor")

