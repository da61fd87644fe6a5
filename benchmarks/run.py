"""The benchmark harness: jseq against Keras 3 (JAX backend) and a hand-written JAX+Optax loop.

    python -m benchmarks --quick          # a few minutes on 2 CPU cores
    python -m benchmarks                  # the full set: every model at two batch sizes, 5 repeats
    python -m benchmarks --list           # the cases of each mode
    python -m benchmarks --scaling        # data-parallel scaling of jseq's fit on 1, 2, 4 devices only

For every case and repeat, each framework runs in a fresh process (`worker_keras_api` for jseq and Keras,
`worker_jax` for the hand loop), so imports, compile caches and memory never carry over; the frameworks take
turns within a repeat (rotated each repeat) so that a change in machine load hits them alike. The parent
prepares each case's data and initial weights once (benchmarks/cases.py), collects the workers' figures, and
writes benchmarks/results/NAME.json (every figure), NAME.md (tables of medians and ratios) and NAME.png
(a chart of the ratios). The full mode then runs the scaling study of benchmarks/scaling.py too (into its
own scaling-*.json / .md files), unless --cases or --no-scaling narrows the run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cases as cases_module
from benchmarks import report, scaling

FRAMEWORKS = ("jseq", "keras", "jax-step", "jax-scan")
WORKERS = {
    "jseq": "benchmarks.worker_keras_api",
    "keras": "benchmarks.worker_keras_api",
    "jax-step": "benchmarks.worker_jax",
    "jax-scan": "benchmarks.worker_jax",
}
RESULTS_DIR = cases_module.REPO_ROOT / "benchmarks" / "results"

# Printed by a probe process: the JAX device and the versions, without initialising JAX in the parent (on a
# GPU the parent would otherwise hold device memory while the workers run).
_PROBE = """
import json, platform, importlib.metadata as md
import jax, jaxlib, optax, numpy, jseq
d = jax.devices()[0]
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "absent"
print(json.dumps({
    "device": {"platform": d.platform, "kind": d.device_kind, "count": jax.device_count()},
    "versions": {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                 "optax": optax.__version__, "keras": version("keras"), "numpy": numpy.__version__,
                 "jseq": jseq.__version__},
}))
"""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer cases, epochs and repeats (a few minutes)")
    p.add_argument("--repeats", type=int, help="processes per framework and case (default: quick 3, full 5)")
    p.add_argument("--epochs", type=int, help="epochs per run, at least 2 (default: quick 3, full 5)")
    p.add_argument("--cases", help="comma-separated case or model names (default: all of the mode)")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help=f"comma-separated, of {FRAMEWORKS}")
    p.add_argument("--train-samples", type=int, help="override the training samples of every case")
    p.add_argument("--test-samples", type=int, help="override the evaluate/predict samples (default 2000)")
    p.add_argument("--timed-calls", type=int, default=3, help="timed evaluate/predict calls after warm-up")
    p.add_argument("--name", help="file name of the results (default: MODE-PLATFORM-TIMESTAMP)")
    p.add_argument("--out-dir", default=str(RESULTS_DIR), help="where the results go")
    p.add_argument("--note", help="a label printed on the report, e.g. 'taken on a loaded machine'")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before a worker is stopped")
    p.add_argument("--mnist-dir", default=str(cases_module.MNIST_DIR), help="folder of the MNIST IDX files")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG chart")
    p.add_argument("--list", action="store_true", help="list the cases of both modes and exit")
    p.add_argument("--report", metavar="JSON", help="rewrite the .md and .png of a results .json and exit")
    p.add_argument("--scaling", action="store_true", help="run only the data-parallel scaling study")
    p.add_argument("--no-scaling", action="store_true", help="leave the scaling study out of the full mode")
    p.add_argument("--devices", help="scaling: comma-separated device counts (default: 1,2,4 on a CPU)")
    p.add_argument(
        "--batch-sizes", default=",".join(map(str, scaling.BATCH_SIZES)), help="scaling: batch sizes"
    )
    args = p.parse_args(argv)
    args.epochs_requested = args.epochs  # the scaling study keeps 5 epochs unless asked (scaling.py)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.epochs = args.epochs or (3 if args.quick else 5)
    if args.epochs < 2:
        p.error(
            "--epochs must be at least 2 (the steady epoch is measured after the first). "
            f"Received: {args.epochs}"
        )
    if args.repeats < 1 or args.timed_calls < 1:
        p.error("--repeats and --timed-calls must be at least 1.")
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in args.frameworks if f not in FRAMEWORKS]
    if unknown:
        p.error(f"unknown framework(s) {unknown}; choose from {list(FRAMEWORKS)}")
    args.cases = [c.strip() for c in args.cases.split(",")] if args.cases else None
    if args.scaling and args.cases:
        p.error("--scaling runs the MLP case only; leave out --cases.")
    try:
        args.devices = [int(v) for v in args.devices.split(",")] if args.devices else None
        args.batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
    except ValueError:
        p.error(f"--devices and --batch-sizes take comma-separated integers, e.g. 1,2,4. Received: "
                f"--devices {args.devices!r} --batch-sizes {args.batch_sizes!r}")  # fmt: skip
    if any(b < 1 for b in args.batch_sizes) or (args.devices and any(n < 1 for n in args.devices)):
        p.error("--devices and --batch-sizes must be positive.")
    return args


def worker_env():
    """The workers' environment: Keras on JAX, no persistent compilation cache, the repo importable."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "jax"
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(cases_module.REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def machine_info(env):
    """CPU model, cores, load, git revision, and (from a probe process) the JAX device and versions."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=cases_module.REPO_ROOT, capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise RuntimeError(f"The probe process (import jax, optax, jseq) failed:\n{probe.stderr[-2000:]}")
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "device": info["device"],
        "versions": info["versions"],
        "git": _git_revision(),
        "load_average_start": os.getloadavg()[0],
    }


def _git_revision():
    def git(*args):
        out = subprocess.run(["git", *args], cwd=cases_module.REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "jseq")
    return head + (" with uncommitted changes to jseq/" if dirty else "")


def skip_reason(framework, keras_present):
    """Why `framework` does not run here (None when it does)."""
    if framework == "keras" and not keras_present:
        return "Keras is not installed (pip install 'keras>=3.15,<3.16' to compare with it)"
    return None


def run_worker(framework, task_path, workdir, env, timeout):
    """Run one worker process; (figures dict, None) or (None, error text)."""
    out = Path(workdir) / f"result-{framework}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", WORKERS[framework], str(task_path), str(out)]
    t0 = time.time()
    try:
        proc = subprocess.run(
            cmd + [repr(t0)],
            env=env,
            cwd=cases_module.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return None, f"exit status {proc.returncode}:\n{tail}"
    with open(out) as f:
        return json.load(f), None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        for quick in (True, False):
            print("quick:" if quick else "full:")
            for case in cases_module.make_cases(quick):
                print(f"  {case.name:12s} {case.describe()}")
        return 0
    if args.report:
        return rewrite_report(Path(args.report), args.no_plot)
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.scaling:
        env = worker_env()
        machine = machine_info(env)
        _print_machine(machine)
        try:
            status, _ = scaling.run_scaling(args, env, machine, command)
        except ValueError as error:
            print(f"python -m benchmarks: error: {error}", file=sys.stderr)
            return 2
        return status
    try:
        selected = cases_module.make_cases(args.quick, args.cases, args.train_samples, args.test_samples)
    except ValueError as error:
        print(f"python -m benchmarks: error: {error}", file=sys.stderr)
        return 2
    env = worker_env()
    machine = machine_info(env)
    keras_present = importlib.util.find_spec("keras") is not None
    notices = []
    if "keras" in args.frameworks and not keras_present:
        notices.append("Keras is not installed: its columns are skipped (pip install 'keras>=3.15,<3.16').")
        print("NOTICE: " + notices[-1], flush=True)
    _print_machine(machine)

    now = datetime.datetime.now()
    mode = "quick" if args.quick else "full"
    name = args.name or f"{mode}-{machine['device']['platform']}-{now:%Y%m%d-%H%M%S}"
    mnist = (
        cases_module.mnist_arrays(args.mnist_dir) if any(c.model.data == "mnist" for c in selected) else None
    )
    result = {
        "name": name,
        "created": now.isoformat(timespec="seconds"),
        "note": args.note,
        "machine": machine,
        "settings": {
            "quick": args.quick,
            "repeats": args.repeats,
            "epochs": args.epochs,
            "timed_calls": args.timed_calls,
            "frameworks": args.frameworks,
            "seed": cases_module.SEED,
            "test_samples": selected[0].test_samples if selected else cases_module.TEST_SAMPLES,
            "accuracy_tolerance": report.ACCURACY_TOLERANCE,
            "command": command,
        },
        "notices": notices,
        "cases": [],
    }
    failures = 0
    total = len(selected) * args.repeats * len(args.frameworks)
    count = 0
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="jseq-bench-") as workdir:
        for case in selected:
            data_path = Path(workdir) / f"{case.name}.npz"
            cases_module.write_case_file(case, data_path, mnist)
            print(f"\n{case.name}: {case.describe()}", flush=True)
            entry = {"case": case.to_json(), "frameworks": {}}
            for fw in args.frameworks:
                reason = skip_reason(fw, keras_present)
                entry["frameworks"][fw] = {"runs": [], "errors": [], "skipped": reason}
                if reason:
                    print(f"  {fw}: skipped: {reason}", flush=True)
            for repeat in range(args.repeats):
                order = (
                    args.frameworks[repeat % len(args.frameworks) :]
                    + args.frameworks[: repeat % len(args.frameworks)]
                )
                for fw in order:
                    count += 1
                    slot = entry["frameworks"][fw]
                    if slot["skipped"]:
                        continue
                    task = {
                        "framework": fw,
                        "case": case.to_json(),
                        "data_path": str(data_path),
                        "epochs": args.epochs,
                        "timed_calls": args.timed_calls,
                    }
                    task_path = Path(workdir) / f"task-{fw}.json"
                    task_path.write_text(json.dumps(task))
                    figures, error = run_worker(fw, task_path, workdir, env, args.timeout)
                    if error:
                        failures += 1
                        slot["errors"].append(error)
                        print(f"  [{count}/{total}] {fw:8s} run {repeat + 1}: FAILED: {error}", flush=True)
                        continue
                    slot["runs"].append(figures)
                    print(
                        f"  [{count}/{total}] {fw:8s} run {repeat + 1}: "
                        f"epoch 1 at {figures['first_epoch_s']:.2f} s, "
                        f"steady epoch {figures['steady_epoch_s']:.4f} s ({figures['step_ms']:.3f} ms/step), "
                        f"accuracy {figures['accuracy']:.4f}",
                        flush=True,
                    )
            result["cases"].append(report.summarise_case(entry))
    machine["load_average_end"] = os.getloadavg()[0]
    result["wall_time_s"] = time.time() - started

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{name}.json", "md": out_dir / f"{name}.md", "png": out_dir / f"{name}.png"}
    with open(paths["json"], "w") as f:
        json.dump(result, f, indent=1, allow_nan=True)
    text = write_report(result, paths, args.no_plot)
    print("\n" + text.split("## Per case")[0].rstrip())
    print(f"\nWall time {result['wall_time_s']:.0f} s. Results:")
    for path in paths.values():
        print(f"  {path}")
    if failures:
        print(f"{failures} worker run(s) failed; see the errors above and in the JSON file.")
    if not args.quick and args.cases is None and not args.no_scaling:
        args.name = None  # the scaling files get their own name
        scaling_machine = dict(machine, load_average_start=os.getloadavg()[0])
        try:
            failures += scaling.run_scaling(args, env, scaling_machine, command)[0]
        except ValueError as error:
            print(f"python -m benchmarks: scaling study not run: {error}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


def write_report(result, paths, no_plot):
    """Write the Markdown (and, unless `no_plot` or without matplotlib, the PNG); returns the Markdown."""
    text = report.markdown(result)
    paths["md"].write_text(text + "\n")
    if no_plot:
        paths.pop("png")
    elif importlib.util.find_spec("matplotlib") is None:
        print("NOTICE: matplotlib is not installed; no chart (pip install matplotlib).")
        paths.pop("png")
    else:
        report.plot(result, paths["png"])
    return text


def rewrite_report(json_path, no_plot):
    """`--report`: the .md and .png again from a results file (after a change to the report's layout)."""
    with open(json_path) as f:
        result = json.load(f)
    if result.get("kind") == "scaling":
        json_path.with_suffix(".md").write_text(scaling.markdown(result) + "\n")
        print(f"  {json_path.with_suffix('.md')}")
        return 0
    paths = {"md": json_path.with_suffix(".md"), "png": json_path.with_suffix(".png")}
    write_report(result, paths, no_plot)
    for path in paths.values():
        print(f"  {path}")
    return 0


def _print_machine(machine):
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    device = machine["device"]
    print(f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), "
          f"load average {machine['load_average_start']:.1f}")  # fmt: skip
    print(f"JAX device: {device['platform']} ({device['kind']}) x{device['count']}")
    print(f"Versions: {versions}; git {machine['git']}", flush=True)
