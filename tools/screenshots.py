"""Screenshots of the first-contact views at 1280x800, for docs/screenshots (issue 9).

Run under Xvfb so fonts and styles are the desktop's:

    xvfb-run -s "-screen 0 1280x800x24" python -m tools.screenshots [OUT_DIR] [--only NAME ...]

Views: ``monitor_startup`` (Train pressed on a fresh window: the Monitor's start-up phases, with
the real worker), ``runs_empty`` (the Runs page of an empty runs folder), ``explain`` (a digits
CNN trained for one epoch, explained with IntegratedGradients), ``explain_text`` (a tiny BERT-style
model saved locally, fine-tuned on generated reviews, its tokens coloured by IntegratedGradients),
``train_slurm`` (the Train page with "Where: Slurm", its form and the sbatch script in the plan),
``monitor_slurm`` (a 2-rank DDP run submitted to a one-node Slurm cluster started for the shot,
tests/clusters/slurm_cluster.py: queued behind another job, then running), ``compress`` (a digits
CNN's compressed variants, one made on the page: table and chart), ``build_pretrained`` (the Build page with an
imported ResNet-18 expanded and frozen up to layer3). Settings and runs go to a
temporary folder; nothing of the user's is read or written.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wait(app, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _window(app, runs: Path):
    from app.main_window import MainWindow

    window = MainWindow(runs_dir=runs)
    window.resize(1280, 800)
    window.show()
    _wait(app, lambda: window.isVisible(), 5)
    return window


def _save(app, window, path: Path) -> None:
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    window.grab().save(str(path))
    print(f"wrote {path}")


def monitor_startup(app, out: Path, tmp: Path) -> None:
    window = _window(app, tmp / "runs_startup")
    train = window.show_page("train")
    _wait(app, train.train_button.isEnabled, 120)
    train.train_button.click()
    monitor = window.page("monitor")
    _wait(app, lambda: monitor.phases.current in ("building model", "first step"), 120)
    _wait(app, lambda: False, 1.2)  # the clock ticks
    _save(app, window, out / "monitor_startup.png")
    monitor.stop()
    _wait(app, lambda: monitor.status in ("stopped", "completed", "failed"), 120)
    window.page("monitor").ask_close_action = lambda: "stop"
    window.close()


def runs_empty(app, out: Path, tmp: Path) -> None:
    window = _window(app, tmp / "runs_empty")
    runs = window.show_page("runs")
    _wait(app, lambda: runs._listed, 10)
    _save(app, window, out / "runs_empty.png")
    window.close()


def _explain_shot(app, out: Path, runs_dir: Path, pick: int, name: str):
    """The Explain page on the one run in `runs_dir`, sample `pick` explained with IntegratedGradients."""
    window = _window(app, runs_dir)
    page = window.show_page("explain")
    _wait(app, lambda: page.run_combo.count() > 0, 30)
    page.open_run(page.run_combo.itemData(0))
    _wait(app, lambda: bool(page.info) and bool(page.browser.visible_indices()), 180)
    page.methods.set_method("IntegratedGradients")
    page.browser.select(page.browser.visible_indices()[pick])
    _wait(app, lambda: page.current_result is not None, 180)
    _save(app, window, out / name)
    return window, page


def _train(spec: Path, runs_dir: Path, *overrides: str) -> None:
    subprocess.run([sys.executable, "-m", "netwright", "train", str(spec), "--runs-dir", str(runs_dir), "--quiet",
                    *overrides], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def explain(app, out: Path, tmp: Path) -> None:
    runs_dir = tmp / "runs_explain"
    _train(ROOT / "engine" / "resources" / "examples" / "digits_cnn.toml", runs_dir, "--set", "training.epochs=2")
    window, page = _explain_shot(app, out, runs_dir, 3, "explain.png")
    page.tabs.setCurrentIndex(1)  # Compare
    _wait(app, lambda: False, 0.5)
    _save(app, window, out / "explain_compare_tab.png")
    window.close()


def explain_text(app, out: Path, tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))  # the tiny model is made by the tests' helper
    from tests.engine.text_fixtures import bert_reviews

    runs_dir = tmp / "runs_explain_text"
    _train(bert_reviews(tmp, samples=240)["spec"], runs_dir)
    window, _ = _explain_shot(app, out, runs_dir, 1, "explain_text.png")
    window.close()



def _slurm_spec(**launcher):
    from engine.spec import ExperimentSpec, load_spec

    doc = load_spec(ROOT / "engine" / "resources" / "examples" / "digits_mlp.toml").to_dict()
    doc["training"].update(epochs=12, log_every=2)
    doc["parallel"].update(strategy="ddp", processes=2)
    doc["launcher"] = {"kind": "slurm", "time_limit": "00:30:00", **launcher}
    return ExperimentSpec.from_dict(doc)


def train_slurm(app, out: Path, tmp: Path) -> None:
    window = _window(app, tmp / "runs_slurm_form")
    window.ask_unsaved_changes = lambda: "discard"  # the edited spec is not saved anywhere
    window.document.edit(_slurm_spec(partition="gpu", account="vision-lab", setup="source ~/venvs/netwright/bin/activate"),
                         "Slurm")
    train = window.show_page("train")
    _wait(app, lambda: train.plan_ready() and train.train_button.isEnabled(), 120)
    from PySide6.QtWidgets import QScrollArea

    train.findChild(QScrollArea, "trainScroll").ensureWidgetVisible(train.where, 0, 0)
    _save(app, window, out / "train_slurm.png")
    window.close()


def monitor_slurm(app, out: Path, tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.clusters.slurm_cluster import start_cluster

    cluster = start_cluster(tmp / "slurm")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        blocker = cluster.run("sbatch", "--parsable", "--job-name=other-user", "--ntasks=2", "--wrap", "sleep 300")
        blocker_id = blocker.stdout.strip()
        window = _window(app, tmp / "runs_slurm")
        window.ask_unsaved_changes = lambda: "discard"
        window.page("monitor").ask_close_action = lambda: "stop"
        window.document.edit(_slurm_spec(), "Slurm")
        train = window.show_page("train")
        _wait(app, lambda: train.plan_ready() and train.train_button.isEnabled(), 120)
        train.train_button.click()
        monitor = window.page("monitor")
        _wait(app, lambda: monitor.job is not None and monitor.job.state == "PENDING", 60)
        _wait(app, lambda: False, 1.5)
        _save(app, window, out / "monitor_slurm_pending.png")
        cluster.run("scancel", blocker_id)
        _wait(app, lambda: monitor.job.state == "RUNNING" and monitor.plots.store().progress().step >= 40, 300)
        _wait(app, lambda: False, 1.0)
        _save(app, window, out / "monitor_slurm_running.png")
        monitor.stop()
        _wait(app, lambda: monitor.status in ("stopped", "completed", "failed", "crashed"), 120)
        window.close()
    finally:
        cluster.stop()
        os.environ.pop("SLURM_CONF", None)


def compress(app, out: Path, tmp: Path) -> None:
    """A digits CNN compressed four ways from the CLI, then once more on the page (prune 50% ->
    fine-tune 2 epochs -> int8): the finished table and the accuracy-vs-size chart."""
    runs_dir = tmp / "runs_compress"
    spec = ROOT / "engine" / "resources" / "examples" / "digits_cnn.toml"
    netwright = [sys.executable, "-m", "netwright"]
    subprocess.run([*netwright, "train", str(spec), "--runs-dir", str(runs_dir), "--quiet", "--set", "training.epochs=4",
                    "--set", "tracking.tensorboard=false"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    (source,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    for steps in (["prune:sparsity=0.8"], ["quantize:scheme=int8_dynamic"],
                  ["prune:sparsity=0.5,structured=true,scope=layer", "finetune:epochs=2"],
                  ["prune:sparsity=0.75,structured=true,scope=layer", "finetune:epochs=2", "quantize"]):
        subprocess.run([*netwright, "compress", str(source), *[a for s in steps for a in ("--step", s)]],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    window = _window(app, runs_dir)
    page = window.show_page("compress")
    page.select_source(source)
    page.start()
    _wait(app, lambda: page.table.rowCount() > 0 and not page.job.running, 600)
    _save(app, window, out / "compress.png")
    window.close()


def build_pretrained(app, out: Path, tmp: Path) -> None:
    """The Build page with the ResNet-18 fine-tuning template: the imported model's card expanded to
    its parts, frozen up to layer3 from the card's locks."""
    from engine.paths import EXAMPLES
    from engine.spec import load_spec

    window = _window(app, tmp / "runs_build")
    window.document.reset(load_spec(EXAMPLES / "finetune_resnet18.toml"))
    page = window.show_page("build")
    _wait(app, lambda: not window.document.data_pending() and (0,) in page.stack.cards()
          and page.stack.card((0,)).pretrained is not None, 120)
    page.stack.card((0,)).pretrained.expand_button.click()
    page.stack.card((0,)).pretrained.locks["layer3"].click()
    page.stack.select((0,))
    _wait(app, lambda: page.stack.card((0,)).pretrained.parts.isVisible(), 10)
    _save(app, window, out / "build_pretrained.png")
    window.close()


def build_pretrained_loading(app, out: Path, tmp: Path) -> None:
    """The Build page a moment after the ResNet-18 template opens in a fresh process: torch and
    torchvision load on a thread, the stack shows with its shapes pending (run it alone: in a
    process that has imported them already, the shapes are there at once)."""
    from engine.paths import EXAMPLES
    from engine.spec import load_spec

    window = _window(app, tmp / "runs_build_loading")
    window.document.reset(load_spec(EXAMPLES / "finetune_resnet18.toml"))
    window.show_page("build")
    if _wait(app, lambda: window.document.pending().startswith("loading torch"), 30):
        _save(app, window, out / "build_pretrained_loading.png")
    else:
        print("skipped build_pretrained_loading: torch was imported already (run it alone: --only)")
    window.close()


VIEWS = {"monitor_startup": monitor_startup, "runs_empty": runs_empty, "explain": explain, "explain_text": explain_text,
         "train_slurm": train_slurm, "monitor_slurm": monitor_slurm, "compress": compress,
         "build_pretrained": build_pretrained, "build_pretrained_loading": build_pretrained_loading}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", nargs="*", choices=sorted(VIEWS), default=None)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="netwright-shots-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        os.environ["HOME"] = str(Path(tmp) / "home")
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv[:1])
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp) / "settings"))
        from app.widgets.theme import apply_theme

        apply_theme(app)
        for name in args.only or list(VIEWS):
            VIEWS[name](app, out, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
