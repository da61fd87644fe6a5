"""The tutorial notebooks: well formed, committed with the outputs of a real run, and executed top to bottom.

Each notebook runs in a real Jupyter kernel (nbclient + ipykernel) on a copy in a temporary folder, with
`JSEQ_TUTORIAL_QUICK=1` (its parameters cell then shrinks epochs and sample counts) and an empty dataset
mirror, so every download fails at once and locally: the notebooks fall back to the real MNIST digits in
../shared/data/mnist. Nothing here touches the internet.
"""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"])


def test_there_are_six_tutorials_listed_in_the_readme():
    assert len(NOTEBOOKS) == 6, [p.name for p in NOTEBOOKS]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if f"tutorials/{p.name}" not in readme]
    assert not missing, f"README.md does not list {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_is_well_formed_and_committed_with_real_outputs(path):
    cells = _cells(path)
    first, last = _source(cells[0]), _source(cells[-1])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), "opens with a title"
    assert "learn" in first.lower(), "the first cell says what the reader will learn"
    assert cells[-1]["cell_type"] == "markdown" and "exercise" in last.lower(), "ends with exercises"
    code = [c for c in cells if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1 and "JSEQ_TUTORIAL_QUICK" in _source(tagged[0]), "one parameters cell"
    # Committed after a real run, top to bottom, without errors: every code cell ran, in order.
    counts = [c["execution_count"] for c in code if _source(c).strip()]
    assert None not in counts, "a code cell was committed without being run"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), "cells ran out of order"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors[0]["ename"] if errors else ""
    assert "jseq" in "".join(_source(c) for c in code)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is not here (offline data)")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_runs_top_to_bottom_in_a_kernel(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    # The notebook runs in a scratch tutorials/ folder (what it writes stays there), beside the checkout's
    # benchmarks/ (notebook 6 reads ../benchmarks/results).
    workdir = tmp_path / "tutorials"
    workdir.mkdir()
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    # The kernel inherits this process's environment.
    monkeypatch.setenv("JSEQ_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("JSEQ_DATASETS_MIRROR", str(mirror))  # every download: a DownloadError, at once
    monkeypatch.setenv("JSEQ_HOME", str(tmp_path / "jseq-home"))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # A quick run checks that every cell runs; most of its time is XLA compiling, which this level halves.
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, "the notebook printed nothing"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Traceback" not in text
