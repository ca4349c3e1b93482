"""The bad-input corpus: one row per bad input, what the command must answer.

Each :class:`Case` is a command line (``{ws}`` is the workspace folder, ``{good}`` a valid spec,
``{run}`` a trained run copied for the case) run through `engine.cli.main`; it must exit with
`code`, name every string of `names` on stderr, and print no traceback. `setup(ws)` writes the
bad file the case needs into the workspace first."""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

GOOD = """
name = "corpus"
seed = 0
[data]
source = "moons"
batch_size = 32
samples = 120
[model]
layers = [{type = "Linear", out_features = 8}, {type = "Tanh"}, {type = "Linear", out_features = 0}]
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 1
device = "cpu"
"""


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    code: int = 2
    setup: Callable[[Path], None] | None = None
    needs_run: bool = False
    env: tuple[tuple[str, str], ...] = ()


CASES: list[Case] = []


def case(id: str, argv: str | list[str], *names: str, code: int = 2, setup=None, env=(), needs_run=None) -> None:
    args = tuple(argv.split()) if isinstance(argv, str) else tuple(argv)
    uses_run = any("{run}" in a for a in args) if needs_run is None else needs_run
    CASES.append(Case(id, args, tuple(names), code, setup, uses_run, tuple(env)))


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{ws}", str(ws)), encoding="utf-8")
    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        for s in setups:
            s(ws)
    return setup


def spec_with(data: str = "", rest: str = "") -> str:
    """A spec whose [data] section is `data` (plus `rest` appended)."""
    head, _, tail = GOOD.partition("[model]")
    body = head.split("[data]")[0] + data + "\n[model]" + tail
    return body + rest


def png(width: int = 4, height: int = 4) -> bytes:
    """A tiny valid grayscale PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes([128] * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- spec fields (--set)
SET_CASES = [
    ("data.batch_size", "0", "data.batch_size"), ("data.batch_size", "-4", "data.batch_size"),
    ("data.batch_size", '"many"', "data.batch_size"), ("data.batch_size", "1.5", "data.batch_size"),
    ("data.batch_size", "true", "data.batch_size"), ("data.batch_size", "99999999", "data.batch_size"),
    ("data.val_fraction", "1.5", "data.val_fraction"), ("data.val_fraction", "-0.1", "data.val_fraction"),
    ("data.val_fraction", '"half"', "data.val_fraction"), ("data.source", '"nope"', "data.source"),
    ("data.source", '""', "data.source"), ("data.source", "3", "data.source"),
    ("data.samples", "1", "data.samples"), ("data.noise", "-1", "data.noise"), ("data.noise", "nan", "data.noise"),
    ("data.nosuch", "1", "data.nosuch"),
    ("optimizer.name", '"adamm"', "optimizer.name"), ("optimizer.name", "7", "optimizer.name"),
    ("optimizer.lr", "0", "optimizer.lr", "must be > 0"), ("optimizer.lr", "-1", "optimizer.lr"),
    ("optimizer.lr", '"fast"', "optimizer.lr"), ("optimizer.lr", "inf", "optimizer.lr"),
    ("optimizer.lr", "nan", "optimizer.lr"), ("optimizer.lr", "100", "optimizer.lr"),
    ("optimizer.beta1", "1.5", "optimizer.beta1"), ("optimizer.eps", "-1", "optimizer.eps"),
    ("optimizer.momentum", "0.9", "optimizer.momentum"), ("optimizer.weight_decay", "2", "optimizer.weight_decay"),
    ("optimizer.betas", "[0.9, 0.99]", "optimizer.betas"),
    ("scheduler.name", '"bogus"', "scheduler.name"), ("scheduler.warmup", "-1", "scheduler.warmup"),
    ("regularization.grad_clip_norm", "-1", "regularization.grad_clip_norm"),
    ("regularization.label_smoothing", "1.0", "regularization.label_smoothing"),
    ("regularization.early_stopping_metric", '"acc"', "regularization.early_stopping_metric"),
    ("regularization.weight_decay_mode", '"sometimes"', "regularization.weight_decay_mode"),
    ("regularization.early_stopping_patience", "-1", "regularization.early_stopping_patience"),
    ("regularization.dropout", "0.5", "regularization.dropout"),
    ("training.epochs", "0", "training.epochs"), ("training.epochs", '"ten"', "training.epochs"),
    ("training.epochs", "2.5", "training.epochs"), ("training.max_steps", "-1", "training.max_steps"),
    ("training.precision", '"fp8"', "training.precision"), ("training.grad_accumulation", "0", "training.grad_accumulation"),
    ("training.device", '"tpu"', "training.device"), ("training.device", '"cuda:x"', "training.device"),
    ("training.checkpoint_every", "-1", "training.checkpoint_every"), ("training.log_every", "0", "training.log_every"),
    ("training.compile", '"yes"', "training.compile"), ("training.loss", '"hinge"', "training.loss"),
    ("training.epoch", "3", "training.epoch"),
    ("parallel.strategy", '"bogus"', "parallel.strategy"), ("parallel.processes", "0", "parallel.processes"),
    ("parallel.nnodes", "0", "parallel.nnodes"), ("parallel.backend", '"mpi"', "parallel.backend"),
    ("parallel.microbatches", "0", "parallel.microbatches"), ("parallel.schedule", '"zb"', "parallel.schedule"),
    ("parallel.stages", "[-1]", "parallel.stages"), ("parallel.max_restarts", "-1", "parallel.max_restarts"),
    ("parallel.node_rank", "-2", "parallel.node_rank"),
    ("seed", '"abc"', "seed"), ("model.layers[0].out_features", "1.5", "model.layers[0]"),
    ("model.layers[0].out_features", "-3", "model.layers[0]"), ("model.layers[0].out_features", '"big"', "model.layers[0]"),
    ("model.layers[0].type", '"Lineer"', "model.layers[0]"), ("model.layers[1].inplace", "3", "model.layers[1]"),
    ("model.layers[0].bias", '"maybe"', "model.layers[0]"),
]
for i, (path, value, *names) in enumerate(SET_CASES):
    case(f"validate-set-{i:02d}-{path}", ["validate", "{good}", "--set", f"{path}={value}"], *names)
for i, (path, value, *names) in enumerate(SET_CASES[::3]):
    case(f"train-set-{i:02d}-{path}", ["train", "{good}", "--set", f"{path}={value}", "--runs-dir", "{ws}/runs"], *names)
for i, (path, value, *names) in enumerate(SET_CASES[1::6]):
    case(f"plan-set-{i:02d}-{path}", ["plan", "{good}", "--set", f"{path}={value}"], *names)

# ----------------------------------------------------------------------------- --set syntax
for i, (assignment, name) in enumerate([
    ("training.epochs", "training.epochs"), ("=3", "key=value"), ("training.=3", "training."),
    ("nosuch.key=1", "nosuch"), ("model.layers[99].out_features=3", "model.layers[99]"),
    ("model.layers[x].out_features=1", "model.layers[x]"), ("data=3", "data"),
    ("training.epochs=[1,2", "training.epochs"), ("model.layers=5", "model.layers"),
    ("model=1", "model"), ("training.epochs.more=1", "training.epochs"), ("optimizer=\"sgd\"", "optimizer"),
]):
    case(f"set-syntax-{i:02d}", ["validate", "{good}", "--set", assignment], name)
    if i % 2 == 0:
        case(f"train-set-syntax-{i:02d}", ["train", "{good}", "--set", assignment, "--runs-dir", "{ws}/runs"], name)

# ----------------------------------------------------------------------------- spec files
SPEC_FILES = [
    ("missing", None, "missing.toml"),
    ("syntax", 'name = "x"\n[data\nsource = "moons"\n', "syntax.toml"),
    ("binary", b"\x00\xff\xfe\x89PNG garbage", "binary.toml"),
    ("utf16", "name = 'x'".encode("utf-16"), "utf16.toml"),
    ("data-not-table", 'name = "x"\ndata = 3\n', "data"),
    ("layers-not-list", spec_with('[data]\nsource = "moons"\n').replace("layers = [", "layers = 5 #["), "model.layers"),
    ("layer-no-type", GOOD.replace('{type = "Tanh"}', '{kind = "Tanh"}'), "model.layers[1]"),
    ("layer-not-table", GOOD.replace('{type = "Tanh"}', '"Tanh"'), "model.layers[1]"),
    ("unknown-section", GOOD + '\n[trainig]\nepochs = 3\n', "trainig"),
    ("unknown-top-key", 'nmae = "x"\n' + GOOD, "nmae"),
    ("no-layers", GOOD.replace('layers = [{type = "Linear", out_features = 8}, {type = "Tanh"}, {type = "Linear", out_features = 0}]', "layers = []"), "model.layers"),
    ("conv-on-vectors", GOOD.replace('{type = "Tanh"}', '{type = "Conv2d", out_channels = 4, kernel_size = 3}'), "model.layers[1]"),
    ("huge-int", GOOD.replace("epochs = 1", "epochs = 99999999999999999999"), "epochs"),
    ("seed-float", GOOD.replace("seed = 0", "seed = 1.5"), "seed"),
    ("name-table", GOOD.replace('name = "corpus"', "name = {a = 1}"), "name"),
    ("duplicate-key", GOOD.replace("epochs = 1", "epochs = 1\nepochs = 2"), "line 15"),
    ("optimizer-list", GOOD.replace('[optimizer]\nname = "adam"\nlr = 0.01', 'optimizer = [1, 2]'), "optimizer"),
    ("empty-json", "{}", "json.toml"),
]
for sid, content, name in SPEC_FILES:
    filename = name if name.endswith(".toml") else f"{sid}.toml"
    setup = write(filename, content) if content is not None else None
    case(f"spec-file-validate-{sid}", ["validate", f"{{ws}}/{filename}"], name if name.endswith(".toml") else name, setup=setup)
    case(f"spec-file-train-{sid}", ["train", f"{{ws}}/{filename}", "--runs-dir", "{ws}/runs"], name, setup=setup)
case("spec-is-folder", "validate {ws}/afolder", "afolder", setup=lambda ws: (ws / "afolder").mkdir(exist_ok=True))
case("train-spec-folder-not-run", "train {ws}/afolder2", "afolder2", setup=lambda ws: (ws / "afolder2").mkdir(exist_ok=True))

# ----------------------------------------------------------------------------- CSV files
CSV_SPEC = spec_with('[data]\nsource = "csv"\npath = "{ws}/%s"\nbatch_size = 8\n%s\n')
CSVS = [
    ("csv-missing", None, "", "nothere.csv"),
    ("csv-empty", "", "", "csv-empty.csv"),
    ("csv-header-only", "a,b,label\n", "", "csv-header-only.csv"),
    ("csv-ragged", "a,b,label\n1,2,x\n3,4\n5,6,y,7\n", "", "csv-ragged.csv"),
    ("csv-text-feature", "a,b,label\n1,hello,x\n2,world,y\n3,foo,x\n4,bar,y\n", "", "csv-text-feature.csv"),
    ("csv-bad-target", "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", 'target = "lable"', "lable"),
    ("csv-bad-ignore", "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", 'ignore_columns = "zz"', "zz"),
    ("csv-bad-categorical", "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", 'categorical = "qq"', "qq"),
    ("csv-binary", b"\x00\x01\x02\xff\xfe\x00garbage", "", "csv-binary.csv"),
    ("csv-one-class", "a,b,label\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n", 'task = "classification"', "csv-one-class.csv"),
    ("csv-all-missing", "a,b,label\nNA,2,x\n?,4,y\n,6,x\nnan,8,y\n", "", "csv-all-missing.csv"),
    ("csv-bad-task", "a,b,label\n1,2,x\n3,4,y\n", 'task = "clustering"', "task"),
    ("csv-only-target", "label\nx\ny\nx\ny\n", "", "csv-only-target.csv"),
    ("csv-duplicate-header", "a,a,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", "", "csv-duplicate-header.csv"),
]


def data_file_cases(rows, spec: str, make: Callable[[str, object], Callable[[Path], None]], missing: str,
                    suffix: str = "", validate_too: Callable[[str], bool] = lambda id: True) -> None:
    """`validate` and `train` of a spec (`spec` % (data path, extra options)) over each bad data
    file of `rows` (id, content or None for a missing path, extra options, the name stderr must show)."""
    for cid, content, extra, name in rows:
        filename = f"{cid}{suffix}" if content is not None else missing
        spec_setup = write(f"{cid}.toml", spec % (filename, extra))
        setup = both(spec_setup, make(filename, content)) if content is not None else spec_setup
        if validate_too(cid):
            case(f"{cid}-validate", ["validate", f"{{ws}}/{cid}.toml"], name, setup=setup)
        case(f"{cid}-train", ["train", f"{{ws}}/{cid}.toml", "--runs-dir", "{ws}/runs"], name, setup=setup)


data_file_cases(CSVS, CSV_SPEC, write, "nothere.csv", ".csv")
case("csv-path-is-folder", "validate {ws}/csvdir.toml", "csvdir",
     setup=both(write("csvdir.toml", CSV_SPEC % ("csvdir", "")), lambda ws: (ws / "csvdir").mkdir(exist_ok=True)))

# ----------------------------------------------------------------------------- image folders
IMG_SPEC = spec_with('[data]\nsource = "image_folder"\npath = "{ws}/%s"\nbatch_size = 4\nsize = 8\n%s\n',
                     ).replace('{type = "Linear", out_features = 8}', '{type = "Flatten"}, {type = "Linear", out_features = 8}')


def image_tree(root: str, files: dict[str, bytes]) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        (ws / root).mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (ws / root / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / root / rel).write_bytes(data)
    return setup


IMAGES = [
    ("img-missing", None, "", "noimages"),
    ("img-empty", {}, "", "img-empty"),
    ("img-flat-files", {"a.png": png(), "b.png": png()}, "", "img-flat-files"),
    ("img-empty-class", {"cat/a.png": png(), "dog/readme.txt": b"hi"}, "", "only one class"),
    ("img-one-class", {"cat/a.png": png(), "cat/b.png": png()}, "", "img-one-class"),
    ("img-corrupt", {"cat/a.png": png(), "cat/b.png": png(), "dog/c.png": b"\x89PNG\r\n\x1a\nbroken", "dog/d.png": png()},
     "", "c.png"),
    ("img-not-images", {"cat/a.txt": b"x", "dog/b.txt": b"y"}, "", "img-not-images"),
    ("img-bad-size", {"cat/a.png": png(), "dog/b.png": png()}, "size = 2", "size"),
    ("img-bad-color", {"cat/a.png": png(), "dog/b.png": png()}, 'color = "cmyk"', "color"),
]
data_file_cases([row for row in IMAGES if "size" not in row[2]], IMG_SPEC, image_tree, "noimages",
                validate_too=lambda id: id != "img-corrupt")  # validate lists folders; loading decodes images
data_file_cases([row for row in IMAGES if "size" in row[2]], IMG_SPEC.replace("size = 8\n", ""), image_tree, "noimages")
case("img-path-is-file", "validate {ws}/img-file.toml", "afile.png",
     setup=both(write("img-file.toml", IMG_SPEC % ("afile.png", "")), write("afile.png", png())))

# ----------------------------------------------------------------------------- text files
TEXT_SPEC = spec_with('[data]\nsource = "text"\npath = "{ws}/%s"\nbatch_size = 4\n%s\n')
TEXTS = [
    ("text-missing", None, "", "notext.txt"),
    ("text-empty", "", "", "text-empty.txt"),
    ("text-binary", b"\xff\xfe\x00\x81\x82garbage\x00" * 20, "", "text-binary.txt"),
    ("text-too-short", "abc", "seq_len = 64", "text-too-short.txt"),
    ("text-bad-seq-len", "hello world " * 50, "seq_len = 0", "seq_len"),
]
data_file_cases(TEXTS, TEXT_SPEC, write, "notext.txt", ".txt")
case("text-path-is-folder", "validate {ws}/textdir.toml", "textdir",
     setup=both(write("textdir.toml", TEXT_SPEC % ("textdir", "")), lambda ws: (ws / "textdir").mkdir(exist_ok=True)))


# ----------------------------------------------------------------------------- checkpoints (resume of a trained run)
def in_run(rel: str, content: str | bytes | None) -> Callable[[Path], None]:
    """Replace (None: delete) a file of the case's copy of the trained run ({ws}/run)."""
    def setup(ws: Path) -> None:
        run = ws / "run"
        matches = sorted(run.glob(rel)) if any(c in rel for c in "*?[") else [run / rel]
        for path in matches[-1:]:
            if content is None:
                path.unlink()
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
    return setup


def malicious_state(ws: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(ws / "PWNED"), "w"))

    folder = sorted((ws / "run" / "checkpoints").glob("step-*"))[-1]
    (folder / "state.pt").write_bytes(pickle.dumps({"step": 1, "x": Evil()}))


def other_architecture(ws: Path) -> None:
    import torch

    folder = sorted((ws / "run" / "checkpoints").glob("step-*"))[-1]
    state = torch.load(folder / "state.pt", weights_only=True)
    for entry in state["optimizer"]["state"].values():
        for key, value in list(entry.items()):
            if getattr(value, "dim", lambda: 0)() > 0:
                entry[key] = torch.zeros(*[s + 1 for s in value.shape])
    torch.save(state, folder / "state.pt")


def resumable(ws: Path) -> None:
    """Mark the copied run as crashed (a dead pid) so `train --resume` accepts it."""
    status = json.loads((ws / "run" / "status.json").read_text())
    status.update(status="crashed", pid=999999)
    (ws / "run" / "status.json").write_text(json.dumps(status))


CHECKPOINTS = [
    ("latest-garbage", in_run("checkpoints/latest", "garbage\n"), "latest", "garbage"),
    ("latest-binary", in_run("checkpoints/latest", b"\xff\xfe\x00\x01"), "latest"),
    ("latest-missing-folder", in_run("checkpoints/latest", "step-000009999\n"), "latest", "step-000009999"),
    ("latest-traversal", in_run("checkpoints/latest", "../../../etc\n"), "latest"),
    ("latest-empty", in_run("checkpoints/latest", ""), "latest"),
    ("latest-deleted", in_run("checkpoints/latest", None), "latest"),
    ("state-garbage", in_run("checkpoints/step-*/state.pt", b"PK\x03\x04garbage"), "state.pt"),
    ("state-empty", in_run("checkpoints/step-*/state.pt", b""), "state.pt"),
    ("state-missing", in_run("checkpoints/step-*/state.pt", None), "state.pt"),
    ("state-malicious", malicious_state, "state.pt"),
    ("state-other-architecture", other_architecture, "state.pt", "shape"),
    ("state-not-dict", lambda ws: __import__("torch").save([1, 2, 3], sorted((ws / "run/checkpoints").glob("step-*"))[-1] / "state.pt"), "state.pt"),
    ("weights-garbage", in_run("checkpoints/step-*/model.safetensors", b"\x00garbage"), "model.safetensors"),
    ("weights-missing", in_run("checkpoints/step-*/model.safetensors", None), "model.safetensors"),
    ("weights-truncated", in_run("checkpoints/step-*/model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"), "model.safetensors"),
    ("spec-corrupt", in_run("spec.toml", "name = [broken"), "spec.toml"),
    ("spec-changed-model", lambda ws: (ws / "run/spec.toml").write_text((ws / "run/spec.toml").read_text().replace("out_features = 8", "out_features = 9")), "model.safetensors"),
    ("spec-invalid", lambda ws: (ws / "run/spec.toml").write_text((ws / "run/spec.toml").read_text().replace("lr = 0.01", "lr = -1")), "optimizer.lr"),
]
for kid, setup, *names in CHECKPOINTS:
    case(f"resume-{kid}", ["train", "--resume", "{run}", "--set", "training.epochs=2", "--quiet"], *names,
         setup=both(setup, resumable))
case("resume-bad-set", ["train", "--resume", "{run}", "--set", "training.epochs=0"], "training.epochs", setup=resumable)
case("resume-bad-set-path", ["train", "--resume", "{run}", "--set", "training.epochz=3"], "training.epochz", setup=resumable)
case("train-resume-missing", "train --resume {ws}/nosuchrun", "nosuchrun")
case("train-resume-a-file", "train --resume {ws}/afile.txt", "afile.txt", setup=write("afile.txt", "x"))
case("train-resume-not-a-run", "train --resume {ws}/plainfolder", "plainfolder",
     setup=lambda ws: (ws / "plainfolder").mkdir(exist_ok=True))
case("resume-and-spec", "train {good} --resume {run}", "--resume")
# (a live process other than this one: the in-process CLI may take over a run its own pid left)
case("resume-running", ["train", "--resume", "{run}"], "run", setup=lambda ws: (ws / "run/status.json").write_text(
    json.dumps({"status": "running", "pid": __import__("os").getppid(), "host": __import__("socket").gethostname()})))

# ----------------------------------------------------------------------------- run directories and control commands
for command in ("stop", "pause", "resume"):
    case(f"{command}-missing", f"{command} {{ws}}/nosuchrun", "nosuchrun")
    case(f"{command}-file", f"{command} {{ws}}/afile.txt", "afile.txt", setup=write("afile.txt", "x"))
    case(f"{command}-not-run", f"{command} {{ws}}/plainfolder", "plainfolder",
         setup=lambda ws: (ws / "plainfolder").mkdir(exist_ok=True))
    case(f"{command}-finished", f"{command} {{run}}", "completed", code=1)
case("worker-missing", "worker {ws}/nosuchrun", "nosuchrun")
case("worker-not-run", "worker {ws}/plainfolder", "plainfolder", setup=lambda ws: (ws / "plainfolder").mkdir(exist_ok=True))
case("worker-bad-spec", "worker {ws}/bad-worker.toml --runs-dir {ws}/runs", "training.epochs",
     setup=write("bad-worker.toml", GOOD.replace("epochs = 1", "epochs = 0")))
case("worker-bad-set", "worker {good} --set optimizer.lr=0 --runs-dir {ws}/runs", "optimizer.lr")
case("worker-bad-processes", "worker {good} --processes 0 --runs-dir {ws}/runs", "parallel.processes")

# ----------------------------------------------------------------------------- runs folders
RUNS_HINT = "runs folder"
case("runs-dir-is-file", "train {good} --runs-dir {ws}/afile.txt", "afile.txt", RUNS_HINT, setup=write("afile.txt", "x"))
case("runs-dir-under-file", "train {good} --runs-dir {ws}/afile.txt/runs", "afile.txt", RUNS_HINT, setup=write("afile.txt", "x"))
case("runs-dir-env-file", "train {good}", "afile.txt", RUNS_HINT, setup=write("afile.txt", "x"),
     env=(("NETWRIGHT_RUNS_DIR", "{ws}/afile.txt"),))
case("runs-dir-env-under-file", "train {good}", "afile.txt", RUNS_HINT, setup=write("afile.txt", "x"),
     env=(("NETWRIGHT_RUNS_DIR", "{ws}/afile.txt/deeper/runs"),))
case("worker-runs-dir-file", "worker {good} --runs-dir {ws}/afile.txt", "afile.txt", RUNS_HINT, setup=write("afile.txt", "x"))

# ----------------------------------------------------------------------------- CLI arguments
case("unknown-command", "trian", "trian")
case("train-no-spec", "train", "SPEC")
case("train-unknown-option", "train {good} --bogus", "--bogus")
case("validate-no-spec", "validate", "SPEC")
case("plan-no-spec", "plan", "SPEC")
case("set-missing-value", "validate {good} --set", "--set")
case("explain-no-run", "explain", "RUN_DIR")
case("explain-missing-run", "explain {ws}/nosuchrun", "nosuchrun")
case("explain-not-a-run", "explain {ws}/plainfolder", "plainfolder", setup=lambda ws: (ws / "plainfolder").mkdir(exist_ok=True))
case("explain-samples-text", "explain {run} --samples abc", "--samples")
case("explain-samples-negative", "explain {run} --samples -1", "--samples")
case("explain-samples-zero", "explain {run} --samples 0", "--samples")
case("explain-index-text", "explain {run} --index a,b", "--index")
case("explain-index-out-of-range", "explain {run} --index 99999", "--index", "99999")
case("explain-index-negative", ["explain", "{run}", "--index=-5"], "--index")
case("explain-both-picks", "explain {run} --samples 2 --index 1", "--index")
case("explain-unknown-method", "explain {run} --method Salincy", "Salincy")
case("explain-param-no-equals", "explain {run} --param steps", "steps")
case("explain-param-unknown", "explain {run} --param bogus=1", "bogus")
case("explain-param-bad-value", "explain {run} --method IntegratedGradients --param steps=-1", "steps")
case("explain-target-out-of-range", "explain {run} --target 99", "--target", "99")
case("explain-target-unknown-name", "explain {run} --target wolf", "--target", "wolf")
case("explain-split-bogus", "explain {run} --split test", "--split")
case("explain-checkpoint-missing", "explain {run} --checkpoint step-000000777", "step-000000777")
case("explain-checkpoint-traversal", "explain {run} --checkpoint ../../etc", "etc")
case("explain-out-is-file", "explain {run} --out {ws}/afile.txt --samples 1", "afile.txt", "--out",
     setup=write("afile.txt", "x"))
case("explain-out-under-file", "explain {run} --out {ws}/afile.txt/maps --samples 1", "afile.txt", "--out",
     setup=write("afile.txt", "x"))
case("explain-weights-garbage", "explain {run} --samples 1", "model.safetensors",
     setup=in_run("checkpoints/step-*/model.safetensors", b"\x00garbage"))
case("explain-no-checkpoint", "explain {run} --samples 1", "checkpoint",
     setup=lambda ws: __import__("shutil").rmtree(ws / "run" / "checkpoints"))
case("explain-spec-changed", "explain {run} --samples 1", "model.safetensors",
     setup=lambda ws: (ws / "run/spec.toml").write_text((ws / "run/spec.toml").read_text().replace("out_features = 8", "out_features = 9")))
case("runs-dir-file-listing", "runs --runs-dir {ws}/afile.txt", "afile.txt", setup=write("afile.txt", "x"))
