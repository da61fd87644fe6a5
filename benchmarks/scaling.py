"""Data-parallel scaling of jseq's `fit`: the same MLP on 1, 2, 4, ... devices, each count in its own process.

    python -m benchmarks --scaling                 # MLP at batch 128 and 512 on 1, 2 and 4 devices
    python -m benchmarks --scaling --quick         # 3 repeats instead of 5
    python -m benchmarks --scaling --devices 1,2,4,8 --batch-sizes 512

The model is the benchmark's MLP (784-512-10, RMSprop, sparse categorical crossentropy) on the shared MNIST
8,000 / 2,000 split, from the same NumPy initial weights at every device count, `shuffle=False`. A worker
process per (batch size, device count, repeat) runs

    jseq.distribution.set_distribution(DataParallel(jax.devices()[:N]))
    model.fit(x, y, batch_size, epochs, shuffle=False, verbose=0)

and reports the steady epoch time (median of the epochs after the first), the final test accuracy and the
first-epoch training loss. On a CPU the parent starts each worker with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`, which splits one CPU into N XLA "devices" that share
the same cores: there the figures measure the overhead of data parallelism, not a speed-up. On a GPU (or
TPU) machine the workers use the real devices, N up to `len(jax.devices())`.

Per batch size the report gives, for every N, the median steady epoch t_N with its [min-max], the
speed-up t_1 / t_N and the scaling efficiency t_1 / (N * t_N) (1.00 is linear scaling), and the test
accuracies, which must agree across N (data parallelism changes only the order of float sums): a batch size
whose accuracies spread more than `report.ACCURACY_TOLERANCE`, or first-epoch losses more than
`report.LOSS_TOLERANCE`, is flagged VOID.

The worker, in this module too (only the standard library and NumPy before jseq's import):

    python -m benchmarks.scaling TASK.json RESULT.json T0
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cases as cases_module
from benchmarks import common, report

BATCH_SIZES = (128, 512)
CPU_DEVICE_COUNTS = (1, 2, 4)
# Epochs per run, also in --quick mode: the steady epoch is the median of epochs 2..5, and with N > 1 devices
# epoch 2 still compiles (jseq traces the step again once its inputs come from the step's own outputs).
EPOCHS = 5
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


# ------------------------------------------------------------------------------------------------------
# The worker: one fit at one device count


def worker(argv=None):
    """Run one fit of the task's case on `task["devices"]` devices and write its figures."""
    task, result_path, t0 = common.parse_argv(argv)
    case, count = task["case"], task["devices"]
    data, weights = cases_module.read_case_file(task["data_path"])

    t_import = common.now()
    import jax

    import jseq
    from benchmarks.worker_keras_api import build_model, epoch_clock

    t_imported = common.now()
    devices = jax.devices()
    if count > len(devices):
        raise SystemExit(
            f"The task asks for {count} devices, but JAX sees {len(devices)} ({devices[0].platform}). On a "
            f"CPU, start the worker with XLA_FLAGS={HOST_DEVICES_FLAG}={count}."
        )
    jseq.distribution.set_distribution(jseq.distribution.DataParallel(devices[:count]))

    model = build_model(jseq, case)
    model.set_weights(weights)
    model.compile(optimizer="rmsprop", loss=case["loss"], metrics=["accuracy"])
    clock = epoch_clock(jseq)
    t_fit = common.now()
    history = model.fit(data["x_train"], data["y_train"], batch_size=case["batch_size"],
                        epochs=task["epochs"], shuffle=False, verbose=0, callbacks=[clock])  # fmt: skip
    scores = model.evaluate(
        data["x_test"], data["y_test"], batch_size=case["batch_size"], verbose=0, return_dict=True
    )
    ends = clock.ends
    epochs = [ends[0] - t_fit] + [b - a for a, b in zip(ends, ends[1:])]
    steady = statistics.median(epochs[1:]) if len(epochs) > 1 else math.nan
    kernel = model.layers[0].params["kernel"]
    common.write_result(
        result_path,
        {
            "devices": count,
            "batch_size": case["batch_size"],
            "per_device_batch": case["batch_size"] // count,
            "steady_epoch_s": steady,
            "step_ms": 1000.0 * steady / case["steps_per_epoch"],
            "first_epoch_s": ends[0] + common._WALL_OFFSET - t0,  # from the process's start
            "import_s": t_imported - t_import,
            "epoch_s": epochs,
            "accuracy": float(scores["accuracy"]),
            "loss": float(scores["loss"]),
            "train_loss": [float(v) for v in history.history["loss"]],
            "param_devices": len(kernel.devices()),  # replicated on every device of the run
            "device": {
                "platform": devices[0].platform,
                "kind": devices[0].device_kind,
                "count": len(devices),
            },
            "peak_rss_mib": common.peak_rss_mib(),
        },
    )


# ------------------------------------------------------------------------------------------------------
# The parent: plan, run the workers, summarise, write


def device_counts(requested, machine):
    """The device counts to run: `requested` (a list of ints) or, when None, 1, 2, 4 on a CPU (host devices)
    and the powers of two up to the device count, plus the count itself, on an accelerator."""
    device = machine["device"]
    host = device["platform"] == "cpu"
    if requested is None:
        if host:
            return list(CPU_DEVICE_COUNTS)
        counts = [2**k for k in range(int(math.log2(device["count"])) + 1)]
        return counts + ([device["count"]] if device["count"] not in counts else [])
    if any(n < 1 for n in requested):
        raise ValueError(f"--devices must be positive integers. Received: {requested}")
    if not host and max(requested) > device["count"]:
        raise ValueError(
            f"--devices asks for {max(requested)} devices, but this machine has {device['count']} "
            f"{device['platform']} device(s). Pass counts up to {device['count']}."
        )
    return sorted(set(requested))


def worker_env(env, count, host):
    """`env` plus, on a CPU, XLA_FLAGS that split the host into `count` devices (other flags are kept)."""
    env = dict(env)
    if host:
        flags = re.sub(rf"{HOST_DEVICES_FLAG}=\d+", "", env.get("XLA_FLAGS", "")).split()
        env["XLA_FLAGS"] = " ".join(flags + [f"{HOST_DEVICES_FLAG}={count}"])
    return env


def run_worker(task, workdir, env, timeout):
    """Run one scaling worker; (figures dict, None) or (None, error text)."""
    task_path = Path(workdir) / f"scaling-task-{task['devices']}.json"
    out = Path(workdir) / f"scaling-result-{task['devices']}.json"
    task_path.write_text(json.dumps(task))
    out.unlink(missing_ok=True)
    t0 = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scaling", str(task_path), str(out), repr(t0)],
            env=env, cwd=cases_module.REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return None, f"exit status {proc.returncode}:\n{tail}"
    return json.loads(out.read_text()), None


def summarise(group):
    """Fill in `group`'s summaries per device count, the scaling rows and the agreement check; returns it.

    group = {"case": Case.to_json(), "devices": {"N": {"runs": [...], "errors": [...]}}}. Speed-up and
    efficiency compare medians with the smallest device count that ran (1 unless it failed):
    speed-up = t_1 / t_N, efficiency = t_1 / (N * t_N).
    """
    keys = ("steady_epoch_s", "step_ms", "first_epoch_s", "accuracy", "loss", "peak_rss_mib")
    for slot in group["devices"].values():
        slot["summary"] = {k: report.spread([run[k] for run in slot["runs"]]) for k in keys}
    ran = {int(n): slot for n, slot in group["devices"].items() if slot["runs"]}
    rows = []
    if ran:
        base = min(ran)  # 1, unless the one-device runs failed
        t_base = ran[base]["summary"]["steady_epoch_s"]["median"]
    for n in sorted(ran):
        s = ran[n]["summary"]
        t_n = s["steady_epoch_s"]["median"]
        rows.append({
            "devices": n,
            "per_device_batch": group["case"]["batch_size"] // n,
            "steady_epoch_s": s["steady_epoch_s"],
            "step_ms": s["step_ms"]["median"],
            "speedup": t_base / t_n if t_n else math.nan,  # t_1 / t_N
            "efficiency": base * t_base / (n * t_n) if t_n else math.nan,  # t_1 / (N t_N)
            "accuracy": s["accuracy"]["median"],
            "first_epoch_loss": statistics.median(run["train_loss"][0] for run in ran[n]["runs"]),
        })  # fmt: skip
    group["scaling"] = rows
    accuracies = [run["accuracy"] for slot in ran.values() for run in slot["runs"]]
    losses = [run["train_loss"][0] for slot in ran.values() for run in slot["runs"]]
    accuracy_spread = max(accuracies) - min(accuracies) if accuracies else math.nan
    loss_spread = (max(losses) - min(losses)) / abs(min(losses)) if losses and min(losses) else math.nan
    reasons = []
    if accuracy_spread > report.ACCURACY_TOLERANCE:
        reasons.append(f"test accuracies spread {accuracy_spread:.4f} > {report.ACCURACY_TOLERANCE}")
    if loss_spread > report.LOSS_TOLERANCE:
        reasons.append(
            f"first-epoch losses spread {100 * loss_spread:.2f}% > {100 * report.LOSS_TOLERANCE:g}%"
        )
    group["agreement"] = {
        "accuracy_spread": accuracy_spread,
        "first_epoch_loss_spread": loss_spread,
        "void": bool(reasons),
        "reasons": reasons,
    }
    return group


def default_name(machine, now):
    """scaling-cpu-2core-20261123 on a CPU, scaling-gpu-nvidia-h100-80gb-hbm3-x1-20261123 on a GPU."""
    device = machine["device"]
    if device["platform"] == "cpu":
        where = f"cpu-{machine['cores']}core"
    else:
        kind = re.sub(r"[^a-z0-9]+", "-", device["kind"].lower()).strip("-")
        where = f"{device['platform']}-{kind}-x{device['count']}"
    return f"scaling-{where}-{now:%Y%m%d}"


def run_scaling(args, env, machine, command):
    """`python -m benchmarks --scaling`: run every (batch size, device count, repeat), write JSON and
    Markdown to `args.out_dir`; returns (exit status, paths)."""
    counts = device_counts(args.devices, machine)
    host = machine["device"]["platform"] == "cpu"
    now = datetime.datetime.now()
    name = args.name or default_name(machine, now)
    notices = []
    result = {
        "kind": "scaling",
        "name": name,
        "created": now.isoformat(timespec="seconds"),
        "note": args.note,
        "machine": machine,
        "settings": {
            "model": "mlp",
            "batch_sizes": list(args.batch_sizes),
            "devices": counts,
            "host_devices": host,
            "repeats": args.repeats,
            "epochs": getattr(args, "epochs_requested", None) or EPOCHS,
            "train_samples": args.train_samples or 8000,
            "test_samples": args.test_samples or cases_module.TEST_SAMPLES,
            "seed": cases_module.SEED,
            "accuracy_tolerance": report.ACCURACY_TOLERANCE,
            "loss_tolerance": report.LOSS_TOLERANCE,
            "command": command,
        },
        "notices": notices,
        "groups": [],
    }
    s = result["settings"]
    mnist = cases_module.mnist_arrays(args.mnist_dir)
    failures, started = 0, time.time()
    print(f"\nScaling: MLP on {counts} {'host ' if host else ''}devices, batch sizes {s['batch_sizes']}, "
          f"{s['repeats']} repeats of {s['epochs']} epochs", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="jseq-scaling-") as workdir:
        for batch in s["batch_sizes"]:
            case = cases_module.Case(cases_module.MODELS["mlp"], batch, s["train_samples"], s["test_samples"])
            data_path = Path(workdir) / f"mlp-b{batch}.npz"
            cases_module.write_case_file(case, data_path, mnist)
            usable = [n for n in counts if batch % n == 0]  # DataParallel needs batches that divide
            group = {"case": case.to_json(), "devices": {str(n): {"runs": [], "errors": []} for n in usable}}
            for n in sorted(set(counts) - set(usable)):
                notices.append(f"batch {batch} does not divide over {n} devices: not run")
                print(f"  NOTICE: {notices[-1]}", flush=True)
            print(f"\n{case.describe()}", flush=True)
            for repeat in range(s["repeats"]):
                order = usable[repeat % len(usable) :] + usable[: repeat % len(usable)]  # rotate, as run.py
                for n in order:
                    task = {"case": case.to_json(), "data_path": str(data_path), "devices": n,
                            "epochs": s["epochs"]}  # fmt: skip
                    figures, error = run_worker(task, workdir, worker_env(env, n, host), args.timeout)
                    slot = group["devices"][str(n)]
                    if error:
                        failures += 1
                        slot["errors"].append(error)
                        print(
                            f"  batch {batch}, {n} device(s), run {repeat + 1}: FAILED: {error}", flush=True
                        )
                        continue
                    slot["runs"].append(figures)
                    print(f"  batch {batch}, {n} device(s), run {repeat + 1}: steady epoch "
                          f"{figures['steady_epoch_s']:.4f} s, accuracy {figures['accuracy']:.4f}",
                          flush=True)  # fmt: skip
            result["groups"].append(summarise(group))
    machine["load_average_end"] = os.getloadavg()[0]
    result["wall_time_s"] = time.time() - started

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{name}.json", "md": out_dir / f"{name}.md"}
    with open(paths["json"], "w") as f:
        json.dump(result, f, indent=1, allow_nan=True)
    text = markdown(result)
    paths["md"].write_text(text + "\n")
    print("\n" + text)
    print(f"\nWall time {result['wall_time_s']:.0f} s. Results:")
    for path in paths.values():
        print(f"  {path}")
    return (1 if failures else 0), paths


# ------------------------------------------------------------------------------------------------------
# Markdown


def _x(value, digits=2):
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown(result):
    """The scaling report: header, one table of every (batch size, device count), the agreement per batch."""
    m, s = result["machine"], result["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [f"# jseq data-parallel scaling: {result['name']}", ""]
    if result.get("note"):
        lines += [f"> **{result['note']}**", ""]
    lines += [
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), JAX device: "
        f"{m['device']['platform']} `{m['device']['kind']}` x{m['device']['count']}; load average "
        f"{m['load_average_start']:.1f} at the start, {m['load_average_end']:.1f} at the end.",
        f"- Versions: {versions}; git {m['git']}.",
        f"- Run: {result['created']}; MLP 784-512-10, RMSprop, sparse categorical crossentropy, "
        f"{s['train_samples']:,} MNIST training samples, shuffle=False, {s['epochs']} epochs; each "
        f"(batch size, device count) {s['repeats']} times, each run in its own process, from the same NumPy "
        f"initial weights (seed {s['seed']}), with `set_distribution(DataParallel(jax.devices()[:N]))`.",
        "- Steady epoch: median of the epochs after the first; the table gives the median over the repeats "
        "[min–max]. Speed-up = t1 / tN; efficiency = t1 / (N × tN) (1.00: linear scaling). Accuracy: test "
        f"accuracy on {s['test_samples']:,} samples after training (median over the repeats).",
    ]
    if s["host_devices"]:
        lines.append(
            f"- **Host devices**: the N devices are one CPU split with `XLA_FLAGS={HOST_DEVICES_FLAG}=N`; "
            f"they share the same {m['usable_cores']} cores, so N devices have no more compute than one. "
            "Efficiency here measures the overhead of data parallelism (the split batch, the gradient "
            "all-reduce, N programs on the same cores), not a speed-up; run on a GPU machine for that."
        )
    for notice in result.get("notices", []):
        lines.append(f"- Notice: {notice}")
    lines += [
        "",
        "| batch | devices | per-device batch | steady epoch (s) | step (ms) | speed-up | efficiency "
        "| test accuracy | first-epoch loss |",
        "|" + " --- |" * 9,
    ]
    for group in result["groups"]:
        for row in group["scaling"]:
            lines.append(
                f"| {group['case']['batch_size']} | {row['devices']} | {row['per_device_batch']} | "
                f"{report._cell(row, 'steady_epoch_s', 's')} | {report._num(row['step_ms'], 'ms')} | "
                f"{_x(row['speedup'])}x | {_x(row['efficiency'])} | {_x(row['accuracy'], 4)} | "
                f"{_x(row['first_epoch_loss'], 4)} |"
            )
    lines.append("")
    for group in result["groups"]:
        a = group["agreement"]
        verdict = (
            "**VOID**: " + "; ".join(a["reasons"])
            if a["void"]
            else f"the device counts agree: test accuracies within {_x(a['accuracy_spread'], 4)}, "
            f"first-epoch losses within {_x(100 * a['first_epoch_loss_spread'], 3)}%"
        )
        lines.append(f"- Batch {group['case']['batch_size']}: {verdict}.")
        for n, slot in group["devices"].items():
            for error in slot["errors"]:
                lines.append(
                    f"- Batch {group['case']['batch_size']}, {n} device(s): `{error.splitlines()[-1]}`"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    worker()
