"""Turns the runner's results into `results.json`, `RESULTS.md` and small PNG plots (written atomically)."""

import json
import os
import statistics
import tempfile


_META = ("seconds", "measured")  # keys of a case's section that are about the run, not results


def _fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _range(s, digits=1, scale=1.0):
    if not s or s.get("median") is None:
        return f"n/a ({s.get('error', 'not measured')})" if s else "n/a"
    if s["n"] == 1:
        return _fmt(s["median"] * scale, digits)
    return f"{_fmt(s['median'] * scale, digits)} ({_fmt(s['min'] * scale, digits)}-{_fmt(s['max'] * scale, digits)})"


def _atomic_write(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _commands(results):
    return {entry["measured"]["command"] for entry in results["cases"].values()
            if isinstance(entry, dict) and "measured" in entry}


def _features(facts):
    """The suffix ' (avx2, fma, ...)': the CPU features a measurement was made with, where they were recorded."""
    features = facts.get("cpu_features")
    if features is None:
        return ""
    return f" ({', '.join(features) or 'no AVX2'})"


def markdown(results) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {m['date']} on {m.get('cpu', 'an unknown CPU')}{_features(m)}, {m['cpus']} cores, Python {m['python']}, "
        f"{results['rounds']} interleaved round(s) per comparison{' (QUICK MODE: tiny sizes, not a measurement)' if results['quick'] else ''}.",
        f"Command: `{results['command']}`. Medians over rounds, with the range in brackets."
        if len(_commands(results)) < 2 else "Commands: one per case, listed below. Medians over rounds, with the range in brackets.",
        "",
    ]
    for note in results.get("notes", []):
        lines += [f"> {note}", ""]
    cases = results["cases"]
    if len(_commands(results)) > 1:
        lines += ["Cases measured by different runs (`--update`):", ""]
        lines += [f"- {case}: {entry['measured']['date']}{_features(entry['measured'])}, `{entry['measured']['command']}`"
                  for case, entry in cases.items() if isinstance(entry, dict) and "measured" in entry]
        lines.append("")
    ceiling = cases.get("ceiling", {}).get("gflops")
    if "ceiling" in cases:
        c = cases["ceiling"]
        lines += ["## The machine's ceiling", "",
                  "| backend | numpy GFLOP/s | backend GFLOP/s |", "|---|---|---|"]
        for backend in ("tensorflow", "jax"):
            for r in c.get(backend, []):
                if "error" in r:
                    lines.append(f"| {backend} | n/a | {r['error']} |")
                else:
                    lines.append(f"| {backend} | {_fmt(r['numpy']['gflops'])} | {_fmt(r[backend]['gflops'])} |")
        lines += ["", f"Single-precision matrix multiply ({c.get('tensorflow', [{}])[0].get('n', '?')}^2), best: "
                  f"**{_fmt(ceiling)} GFLOP/s**.", ""]
    if "inference" in cases:
        c = cases["inference"]
        lines += ["## Inference: ResNet50", "",
                  f"Batch {c['batch_size']} at {c['image_size']}x{c['image_size']}, images/s; GFLOP/s achieved and its "
                  "fraction of the ceiling.", "",
                  "| setting | keras_resnets | keras.applications | ratio | keras_resnets GFLOP/s | of ceiling |",
                  "|---|---|---|---|---|---|"]
        for mode, entry in c["modes"].items():
            ours = stat_of(entry, "keras_resnets")
            gflops = _median_of(entry["runs"]["keras_resnets"], "gflops")
            frac = gflops / ceiling if gflops and ceiling else None
            lines.append(f"| {mode} | {_range(ours)} | {_range(stat_of(entry, 'keras.applications'))} | "
                         f"{_range(entry['ratio'], 2)} | {_fmt(gflops)} | {_fmt(frac, 2)} |")
        folded = {}
        for entry in c["modes"].values():
            for label, runs in entry["runs"].items():
                folded[label] = max([folded.get(label, 0)] + [r.get("batch_norms_folded", 0) for r in runs])
        if any(folded.values()):
            lines += ["", "\"BatchNorm folded\": both models pass through `keras_resnets.fold_batch_norm` before "
                      "compiling (" + ", ".join(f"{label}: {n} BatchNormalizations folded"
                                                for label, n in folded.items()) + ")."]
        threads = sorted({r["threads"] for entry in c["modes"].values() for runs in entry["runs"].values()
                          for r in runs if "threads" in r})
        if threads:
            lines += ["", "\"LiteRT float32 export\": each model written by `keras_resnets.export.export_model` "
                      "(SavedModel with its BatchNorms folded, converted to float32 `.tflite`) and run on the same "
                      "batch by ai_edge_litert's interpreter with XNNPACK, "
                      f"{' or '.join(map(str, threads))} thread(s) (every core the process may use)."]
        lines.append("")
    if "training" in cases:
        c = cases["training"]
        lines += ["## Training throughput", "",
                  "Images/s of whole epochs after the first (which traces and compiles), data pipeline included. "
                  f"PyTorch: {c.get('torch_version') or 'not installed (pass --torch-python)'}.", ""]
        for name, entry in c.items():
            if not isinstance(entry, dict) or "stats" not in entry:
                continue
            lines += [f"### {name}", "", "| candidate | images/s |", "|---|---|"]
            for label, s in entry["stats"].items():
                lines.append(f"| {label} | {_range(s)} |")
            lines += ["", "| ratio | median (range) |", "|---|---|"]
            for label, r in entry["ratios"].items():
                lines.append(f"| {label} | {_range(r, 2)} |")
            lines.append("")
    if "training" in cases:
        lines += ["![training throughput](plots/training.png)", ""]
    if "training_settings" in cases:
        c = cases["training_settings"]
        s = c["setup"]
        lines += ["## Where ResNet-20's training time goes", "",
                  f"The training package's path ({s['recipe']}, batch {s['batch_size']} at {s['image_size']}, synthetic "
                  "images) with one setting changed at a time; images/s and the ratio to the default, per round."
                  + (f" The PyTorch row ({c['torch_version']}) is the training case's peer in the same rounds, for "
                     "reference: the same network on in-memory tensors without augmentation." if c.get("torch_version")
                     else ""), "",
                  "| setting | images/s | / default |", "|---|---|---|"]
        for label, st in c["stats"].items():
            r = c["ratios"].get(label)
            lines.append(f"| {label} | {_range(st)} | {_range(r, 2) if r else '1'} |")
        lines.append("")
    if "litert" in cases:
        lines += ["## LiteRT latency at batch 1", "", "| model | export | format | size | 1 thread ms | 2 threads ms |",
                  "|---|---|---|---|---|---|"]
        for name, entry in cases["litert"].items():
            if not isinstance(entry, dict) or name in _META:
                continue
            for who, r in entry.items():
                if "error" in r:
                    lines.append(f"| {name} | {who} | n/a | | {r['error']} | |")
                    continue
                for fmt in ("float32", "float16", "int8"):
                    if fmt in r:
                        f = r[fmt]
                        lines.append(f"| {name} | {who} | {fmt} | {f['size_bytes'] / 2**20:.2f} MiB | "
                                     f"{_fmt(f.get('1_threads', {}).get('median_ms'), 2)} | "
                                     f"{_fmt(f.get('2_threads', {}).get('median_ms'), 2)} |")
        lines.append("")
    if "memory" in cases:
        c = cases["memory"]
        s = c["setup"]
        lines += [f"## Training memory: {s['model']}", "",
                  f"Batch {s['batch_size']} at {s['image_size']}x{s['image_size']}, `train_on_batch`, TensorFlow with "
                  "oneDNN and its BFC allocator on the CPU: peak of live tensors during a step (TensorFlow's "
                  "allocator statistics) and peak resident memory of the whole process.", "",
                  "| model | peak tensors MiB | peak RSS MiB | step s |", "|---|---|---|---|"]
        for label, st in c["stats"].items():
            lines.append(f"| {label} | {_range(st.get('peak_tensor_mib', {}), 0)} | {_range(st['peak_rss_mib'], 0)} | "
                         f"{_range(st['step_s'], 2)} |")
        lines += ["", "| ratio | peak tensors | peak RSS | step time |", "|---|---|---|---|"]
        for label, r in c["ratios"].items():
            lines.append(f"| {label} | {_range(r.get('peak_tensor', {}), 2)} | {_range(r['peak_rss'], 2)} | "
                         f"{_range(r['step_time'], 2)} |")
        lines.append("")
    if "pipeline" in cases:
        lines += ["## Input pipeline alone", "", "| pipeline | images/s |", "|---|---|"]
        for label, entry in cases["pipeline"].items():
            if isinstance(entry, dict) and "stats" in entry:
                lines.append(f"| {label} | {_range(entry['stats'], 0)} |")
        lines.append("")
    if "scaling" in cases:
        c = cases["scaling"]
        lines += ["## How cost grows", "", "Training step time (`train_on_batch`, median of repeats) and peak memory.",
                  "", "| what | value | step s | images/s | peak RSS MiB | peak tensors MiB |", "|---|---|---|---|---|---|"]
        rows = [(f"ResNet {what}", value, r) for what in ("depth", "batch_size", "resolution") for value, r in c[what].items()]
        rows += [(f"DenseNet-BC depth ({kind})", depth, r) for depth, pair in c["densenet_depth"].items()
                 for kind, r in pair.items()]
        for what, value, r in rows:
            lines.append(f"| {what} | {value} | {_fmt(r.get('median_s'), 3)} | {_fmt(r.get('images_per_second'))} | "
                         f"{_fmt(r.get('peak_rss_mib'), 0)} | {_fmt(r.get('peak_tensor_mib'), 0)} |")
        lines += ["", "![scaling](plots/scaling.png)", ""]
    if "time_to_accuracy" in cases:
        lines += ["## Time to accuracy (Fashion-MNIST)", "",
                  "Test accuracy after every epoch; minutes of wall time (the epoch and its test evaluation) or, for "
                  "runs that did not log it, of training alone (clock). A run evaluated only at the end counts its "
                  "whole wall time, from start to its final evaluation (clock: total (final only)); "
                  "\"(flip TTA)\" rows are the same run evaluated with `keras_resnets.flip_tta`.", "",
                  "| run | minutes to 92% | minutes to 94% | final | epochs | clock | setup |",
                  "|---|---|---|---|---|---|---|"]
        for run, r in cases["time_to_accuracy"].items():
            if not isinstance(r, dict) or run in _META:
                continue
            if "error" in r:
                lines.append(f"| {run} | {r['error']} | | | | | |")
            else:
                lines.append(f"| {run} | {_fmt(r['minutes_to']['0.92'])} | {_fmt(r['minutes_to']['0.94'])} | "
                             f"{_fmt(r['final_accuracy'], 4)} | {r['epochs']} | {r['clock']} | "
                             f"{r.get('setup') or 'n/a'} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def stat_of(entry, label):
    return entry["stats"][label]


def _median_of(runs, key):
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def plots(results, out_dir):
    """Small PNGs: training throughput and the scaling curves. Needs matplotlib (the `viz` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written = []
    os.makedirs(out_dir, exist_ok=True)
    cases = results["cases"]
    if "scaling" in cases:
        c = cases["scaling"]
        fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
        for ax, what, xlabel in zip(axes[:3], ("depth", "batch_size", "resolution"),
                                    ("ResNet depth (batch 128, 32 px)", "batch size (ResNet-20, 32 px)",
                                     "resolution (ResNet-20, batch 32)")):
            xs = [int(k) for k, r in c[what].items() if "median_s" in r]
            ys = [c[what][k]["median_s"] for k in c[what] if "median_s" in c[what][k]]
            ax.plot(xs, ys, "o-")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("train step, s")
            ax.grid(alpha=0.3)
        ax = axes[3]
        for key, style, what in (("peak_tensor_mib", "o-", "tensors"), ("peak_rss_mib", "s--", "RSS")):
            for kind, color in (("plain", "tab:blue"), ("memory_efficient", "tab:orange")):
                pts = [(int(d), pair[kind][key]) for d, pair in c["densenet_depth"].items() if key in pair.get(kind, {})]
                if pts:
                    ax.plot(*zip(*pts), style, color=color, label=f"{kind}, {what}")
        ax.set_xlabel("DenseNet-BC depth (batch 64, 32 px)")
        ax.set_ylabel("peak memory, MiB")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, os.path.join(out_dir, "scaling.png")))
        plt.close(fig)
    if "training" in cases:
        entries = {k: v for k, v in cases["training"].items() if isinstance(v, dict) and "stats" in v}
        if entries:
            fig, axes = plt.subplots(1, len(entries), figsize=(6 * len(entries), 3.2), squeeze=False)
            for ax, (name, entry) in zip(axes[0], entries.items()):
                labels = list(entry["stats"])
                medians = [entry["stats"][k]["median"] or 0 for k in labels]
                lows = [m - (entry["stats"][k]["min"] or m) for k, m in zip(labels, medians)]
                highs = [(entry["stats"][k]["max"] or m) - m for k, m in zip(labels, medians)]
                ax.barh(labels, medians, xerr=[lows, highs], color="tab:blue")
                ax.set_xlabel("images/s")
                ax.set_title(name)
            fig.tight_layout()
            written.append(_save(fig, os.path.join(out_dir, "training.png")))
            plt.close(fig)
    return written


def _save(fig, path):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, path)
    return path


def write(results, out_dir):
    _atomic_write(os.path.join(out_dir, "results.json"), json.dumps(results, indent=1, default=str))
    _atomic_write(os.path.join(out_dir, "RESULTS.md"), markdown(results))
    plots(results, os.path.join(out_dir, "plots"))
