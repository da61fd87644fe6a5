"""From the workers' results to figures: medians and spread, the VOID check, ratios, Markdown and a PNG.

Results are plain dicts (the JSON file's layout):

    result["cases"][i] = {
        "case": Case.to_json(),
        "frameworks": {name: {"runs": [worker figures, ...], "errors": [str, ...], "skipped": str | None,
                              "summary": {metric: {"median", "min", "max", "q1", "q3", "n"}}}},
        "agreement": {
            "accuracy": {"by_framework": {name: median}, "spread": max - min over all runs, "tolerance"},
            "first_epoch_loss": {"by_framework", "spread": (max - min) / min over all runs, "tolerance"},
            "void": bool, "reasons": [str, ...]},
        "ratios": {"jseq/keras": {metric: ratio}, "jseq/jax": {metric: ratio}, "jax_best": {metric: name}},
    }

A ratio is jseq's median over the other's median: below 1, jseq is faster (or uses less memory).
"hand-JAX" is, metric by metric, the faster of the variants that ran (jax-step, jax-scan).
"""

from __future__ import annotations

import math
import statistics
import textwrap

# The frameworks start from the same weights and see the same data in the same order with the same formulas,
# so only float reassociation separates them. Two checks, over every run of every framework of a case:
# - final test accuracies within ACCURACY_TOLERANCE (absolute; 0.01 is 20 of 2,000 test samples). Measured
#   spreads: 0 to 0.003 where training has left the steep part of its learning curve (all cases here);
# - first-epoch mean training losses within LOSS_TOLERANCE (relative). This one is early, before the chaos of
#   training can amplify rounding, so it catches a wrong weight order or formula even where the accuracies
#   happen to land close (measured: below 0.1%).
ACCURACY_TOLERANCE = 0.01
LOSS_TOLERANCE = 0.02

# (key, label, unit): the timed and measured figures, in the order of the tables.
METRICS = (
    ("steady_epoch_s", "steady epoch", "s"),
    ("step_ms", "steady step", "ms"),
    ("first_epoch_s", "process start to end of epoch 1", "s"),
    ("first_step_s", "construction to end of step 1 (est.)", "s"),
    ("import_s", "import", "s"),
    ("build_s", "build, set_weights, compile", "s"),
    ("evaluate_s", "evaluate 2,000 (batch 32)", "s"),
    ("predict_s", "predict 2,000 (batch 32)", "s"),
    ("peak_rss_mib", "peak memory (ru_maxrss)", "MiB"),
)
SCORES = (("accuracy", "test accuracy"), ("loss", "test loss"))
FRAMEWORK_LABELS = {"jseq": "jseq", "keras": "Keras 3 (JAX)", "jax-step": "JAX step", "jax-scan": "JAX scan"}
HAND_VARIANTS = ("jax-step", "jax-scan")
# The metrics drawn in the chart (ratios), with short labels.
CHART_METRICS = (
    ("steady_epoch_s", "steady epoch"),
    ("first_epoch_s", "start to epoch 1"),
    ("first_step_s", "build to step 1"),
    ("evaluate_s", "evaluate"),
    ("predict_s", "predict"),
    ("peak_rss_mib", "peak memory"),
)


def spread(values):
    """{"median", "min", "max", "q1", "q3", "n"} of a list of numbers (NaNs dropped)."""
    values = sorted(v for v in values if v is not None and not math.isnan(v))
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "q1": math.nan, "q3": math.nan, "n": 0}
    q1, q3 = (statistics.quantiles(values, n=4)[0::2]) if len(values) > 1 else (values[0], values[0])
    return {
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "q1": q1,
        "q3": q3,
        "n": len(values),
    }


def summarise_case(entry):
    """Fill in `entry`'s summaries, accuracy agreement (VOID) and ratios, in place; returns it."""
    frameworks = entry["frameworks"]
    keys = [k for k, _, _ in METRICS] + [k for k, _ in SCORES]
    for fw in frameworks.values():
        fw["summary"] = {k: spread([run[k] for run in fw["runs"]]) for k in keys} if fw["runs"] else {}

    ran = {name: fw for name, fw in frameworks.items() if fw["runs"]}
    accuracies = [run["accuracy"] for fw in ran.values() for run in fw["runs"]]
    losses = [run["train_loss"][0] for fw in ran.values() for run in fw["runs"] if run.get("train_loss")]
    accuracy_spread = max(accuracies) - min(accuracies) if accuracies else math.nan
    loss_spread = (max(losses) - min(losses)) / abs(min(losses)) if losses and min(losses) else math.nan
    reasons = []
    if accuracy_spread > ACCURACY_TOLERANCE:
        reasons.append(f"test accuracies spread {accuracy_spread:.4f} > {ACCURACY_TOLERANCE}")
    if loss_spread > LOSS_TOLERANCE:
        reasons.append(
            f"first-epoch training losses spread {100 * loss_spread:.2f}% > {100 * LOSS_TOLERANCE:g}%"
        )
    entry["agreement"] = {
        "accuracy": {
            "by_framework": {name: fw["summary"]["accuracy"]["median"] for name, fw in ran.items()},
            "spread": accuracy_spread,
            "tolerance": ACCURACY_TOLERANCE,
        },
        "first_epoch_loss": {
            "by_framework": {
                name: statistics.median(run["train_loss"][0] for run in fw["runs"])
                for name, fw in ran.items()
                if all(run.get("train_loss") for run in fw["runs"])
            },
            "spread": loss_spread,
            "tolerance": LOSS_TOLERANCE,
        },
        "void": bool(reasons),
        "reasons": reasons,
    }

    def median(name, key):
        return ran[name]["summary"][key]["median"] if name in ran else math.nan

    ratios = {"jseq/keras": {}, "jseq/jax": {}, "jax_best": {}}
    for key, _, _ in METRICS:
        ratios["jseq/keras"][key] = _ratio(median("jseq", key), median("keras", key))
        hand = [(median(v, key), v) for v in HAND_VARIANTS if v in ran]
        if hand:
            best, variant = min(hand)
            ratios["jseq/jax"][key] = _ratio(median("jseq", key), best)
            ratios["jax_best"][key] = variant
        else:
            ratios["jseq/jax"][key] = math.nan
    entry["ratios"] = ratios
    return entry


def _ratio(a, b):
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


# ------------------------------------------------------------------------------------------------------
# Markdown


def _num(value, unit=""):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "score":
        return f"{value:.4f}"
    if unit == "MiB":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.3f}" if value < 1 else f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.4f}"


def _cell(summary, key, unit):
    s = summary.get(key) if summary else None
    if not s or not s["n"]:
        return "n/a"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _num(s["median"], unit)
    return f"{_num(s['median'], unit)} [{_num(s['min'], unit)}–{_num(s['max'], unit)}]"


def _device_label(device):
    """'cpu', or the platform and the device kind where they differ ('gpu NVIDIA H100 80GB HBM3')."""
    same = device["kind"].lower() == device["platform"].lower()
    return device["platform"] if same else f"{device['platform']} {device['kind']}"


def _ratio_text(r):
    return "n/a" if r is None or math.isnan(r) else f"{r:.2f}x"


def _status(entry, name):
    fw = entry["frameworks"].get(name)
    if fw is None:
        return "not run"
    if fw.get("skipped"):
        return "skipped"
    if not fw["runs"]:
        return "error"
    return None


def markdown(result):
    """The report as Markdown: header, two ratio tables, then one table per case."""
    m, s = result["machine"], result["settings"]
    lines = [f"# jseq benchmarks: {result['name']}", ""]
    if result.get("note"):
        lines += [f"> **{result['note']}**", ""]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines += [
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), JAX device: "
        f"{m['device']['platform']} `{m['device']['kind']}` x{m['device']['count']}; load average "
        f"{m['load_average_start']:.1f} at the start, {m['load_average_end']:.1f} at the end.",
        f"- Versions: {versions}; git {m['git']}.",
        f"- Run: {result['created']}, {'quick' if s['quick'] else 'full'} mode, {s['repeats']} repeats of "
        f"each framework per case, {s['epochs']} epochs; figures are medians over the repeats with "
        "[min–max].",
        "- Each framework runs each case in its own process, from the same NumPy initial weights "
        f"(seed {s['seed']}), on the same data in the same order (shuffle=False), with RMSprop(1e-3), "
        f"verbose=0. evaluate and predict run on {s['test_samples']} samples at their default batch size "
        f"(32) after a warm-up call (median of {s['timed_calls']} calls).",
        "- Steady epoch: median of the epochs after the first. Process start to end of epoch 1 includes the "
        "interpreter, the import, building, compiling and the epoch. Construction to end of step 1 is "
        "estimated as build + first epoch - (steps - 1) x the steady step.",
        "- Ratios are of medians: below 1.00x jseq is faster (or uses less memory). hand-JAX is, per "
        "metric, the faster of the hand-written JAX+Optax loops: `JAX step` (jitted step, data on device, "
        "donated buffers) and `JAX scan` (each epoch in one `lax.scan`).",
        f"- VOID: across all runs of all frameworks, the final test accuracies of a case differ by more than "
        f"{ACCURACY_TOLERANCE}, or the first-epoch training losses by more than {100 * LOSS_TOLERANCE:g}%: "
        "the timings would not compare the same computation.",
    ]
    for notice in result.get("notices", []):
        lines.append(f"- Notice: {notice}")
    lines.append("")

    names = [fw for fw in result["settings"]["frameworks"]]
    ratio_keys = [
        ("steady_epoch_s", "steady epoch"),
        ("step_ms", "step"),
        ("first_epoch_s", "start to epoch 1"),
        ("first_step_s", "build to step 1"),
        ("import_s", "import"),
        ("evaluate_s", "evaluate"),
        ("predict_s", "predict"),
        ("peak_rss_mib", "memory"),
    ]
    for which, title in (("jseq/keras", "jseq / Keras 3 (JAX)"), ("jseq/jax", "jseq / hand-JAX (best)")):
        lines += [f"## Ratios {title}", ""]
        header = ["case"] + [label for _, label in ratio_keys] + ["accuracy", "valid"]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for entry in result["cases"]:
            acc = entry["agreement"]["accuracy"]
            accs = " / ".join(
                f"{acc['by_framework'][n]:.4f}" if n in acc["by_framework"] else "-"
                for n in names
                if n in entry["frameworks"]
            )
            row = [entry["case"]["name"]] + [
                _ratio_text(entry["ratios"][which].get(k)) for k, _ in ratio_keys
            ]
            row += [accs, "**VOID**" if entry["agreement"]["void"] else "ok"]
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "accuracy: " + " / ".join(FRAMEWORK_LABELS[n] for n in names), ""]

    lines += ["## Per case", ""]
    for entry in result["cases"]:
        case = entry["case"]
        agreement = entry["agreement"]
        acc, loss = agreement["accuracy"], agreement["first_epoch_loss"]
        verdict = (
            "**VOID**: " + "; ".join(agreement["reasons"])
            if agreement["void"]
            else f"The frameworks agree: test accuracies within {acc['spread']:.4f} (tolerance "
            f"{acc['tolerance']}), first-epoch training losses within {100 * loss['spread']:.3f}% "
            f"(tolerance {100 * loss['tolerance']:g}%)"
        )
        lines += [
            f"### {case['name']}",
            "",
            f"{case['title']}, batch {case['batch_size']}, {case['train_samples']:,} training / "
            f"{case['test_samples']:,} test samples "
            f"({'MNIST' if case['data'] == 'mnist' else 'synthetic integer sequences, fixed seed'}), "
            f"{case['steps_per_epoch']} steps per epoch, loss {case['loss']}. {verdict}.",
            "",
        ]
        present = [n for n in names if n in entry["frameworks"]]
        header = ["metric"] + [FRAMEWORK_LABELS[n] for n in present] + ["jseq/Keras", "jseq/hand-JAX"]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for key, label, unit in METRICS:
            row = [f"{label} ({unit})"]
            for n in present:
                status = _status(entry, n)
                row.append(status or _cell(entry["frameworks"][n]["summary"], key, unit))
            best = entry["ratios"]["jax_best"].get(key)
            hand = _ratio_text(entry["ratios"]["jseq/jax"].get(key))
            row += [
                _ratio_text(entry["ratios"]["jseq/keras"].get(key)),
                f"{hand} ({FRAMEWORK_LABELS[best]})" if best and hand != "n/a" else hand,
            ]
            lines.append("| " + " | ".join(row) + " |")
        for key, label in SCORES:
            row = [label]
            for n in present:
                status = _status(entry, n)
                row.append(status or _cell(entry["frameworks"][n]["summary"], key, "score"))
            lines.append("| " + " | ".join(row + ["", ""]) + " |")
        for n in present:
            fw = entry["frameworks"][n]
            if fw.get("skipped"):
                lines.append(f"\n{FRAMEWORK_LABELS[n]} skipped: {fw['skipped']}")
            for error in fw.get("errors", []):
                lines.append(
                    f"\n{FRAMEWORK_LABELS[n]} failed: `{error.splitlines()[-1] if error else 'error'}`"
                )
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------
# Chart


def plot(result, path):
    """A PNG bar chart of the ratios jseq/Keras and jseq/hand-JAX per case and metric (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    entries = result["cases"]
    panels = [
        ("jseq/keras", "jseq / Keras 3 (JAX backend)"),
        ("jseq/jax", "jseq / hand-written JAX (best variant)"),
    ]
    width = 0.8 / len(CHART_METRICS)
    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8.0, 1.7 * len(entries) + 3), 8.5), squeeze=False)
    values = [
        entry["ratios"][which].get(key, math.nan)
        for which, _ in panels
        for entry in entries
        for key, _ in CHART_METRICS
    ]
    finite = [v for v in values if v and not math.isnan(v)] or [1.0]
    low, high = min(min(finite), 1.0) / 2.2, max(max(finite), 1.0) * 2.2
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20) if low <= t <= high]
    for ax, (which, title) in zip(axes[:, 0], panels):
        for j, (key, label) in enumerate(CHART_METRICS):
            xs = [i + (j - (len(CHART_METRICS) - 1) / 2) * width for i in range(len(entries))]
            ys = [entry["ratios"][which].get(key, math.nan) for entry in entries]
            # Bars grow from the parity line: up where jseq is slower, down where it is faster.
            heights = [0.0 if math.isnan(y) else y - 1.0 for y in ys]
            bars = ax.bar(xs, heights, width, bottom=1.0, label=label, color=colors[j])
            for bar, y in zip(bars, ys):
                text = "n/a" if math.isnan(y) else f"{y:.2f}"
                below = not math.isnan(y) and y < 1.0
                at = (bar.get_x() + bar.get_width() / 2, 1.0 if math.isnan(y) else y)
                ax.annotate(text, at, xytext=(0, -2 if below else 2), textcoords="offset points", ha="center",
                            va="top" if below else "bottom", fontsize=7, rotation=90)  # fmt: skip
        ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylabel("ratio (below 1: jseq faster / smaller)")
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(entries)))
        labels = [e["case"]["name"] + ("\nVOID" if e["agreement"]["void"] else "") for e in entries]
        ax.set_xticklabels(labels, fontsize=10)
        for tick, entry in zip(ax.get_xticklabels(), entries):
            if entry["agreement"]["void"]:
                tick.set_color("red")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=len(CHART_METRICS), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    machine = result["machine"]
    device = machine["device"]
    title = (
        f"jseq benchmarks: {result['name']} ({_device_label(device)}, {machine['cpu']}, "
        f"{machine['cores']} cores)"
    )
    if result.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(result["note"], 120))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
