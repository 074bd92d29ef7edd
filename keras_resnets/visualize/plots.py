"""The figures: each analysis drawn as a PNG with a title, labelled axes and a labelled colour scale.

matplotlib is imported when the first figure is made (`pip install "keras-resnets[viz]"`), so the analysis
runs without it. Figures are drawn on a `matplotlib.figure.Figure` (no pyplot state) and written atomically.
"""

import os

import numpy as np

from keras_resnets import tool_io
from keras_resnets.visualize.probe import EPS, to_nhwc


def new_figure(width, height):
    """A matplotlib Figure (constrained layout, 100 dpi); an ImportError says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('The plots need matplotlib: pip install "keras-resnets[viz]" (or matplotlib).') from e
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def check_png(path):
    """Raises `ValueError` unless `path` ends in .png (the only format the figures are written in)."""
    if not os.fspath(path).lower().endswith(".png"):
        raise ValueError(f"Figures are written as PNG; the path must end in .png. Received: {os.fspath(path)!r}")


def save_png(figure, path):
    """Writes `figure` as a PNG at `path` atomically (`keras_resnets.tool_io.write_atomically`); returns `path`."""
    path = os.fspath(path)
    check_png(path)
    tool_io.write_atomically(path, lambda f: figure.savefig(f, format="png"))
    return path


def _show_image(ax, image, title):
    image = np.asarray(image, dtype="float32")
    low, high = float(image.min()), float(image.max())
    shown = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if shown.shape[-1] == 1:
        ax.imshow(shown[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(shown[..., :3])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (px)", fontsize=8)
    ax.set_ylabel("y (px)", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_feature_maps(maps, image, path, channels=8, title=None):
    """One row per layer: the image, then the `channels` most active channels of that layer for it.

    Args:
        maps: `feature_maps(model, image[None])` (only the first image is drawn).
        image: `(H, W, C)` the input image (raw pixels).
    """
    if channels < 1:
        raise ValueError(f"`channels` must be >= 1. Received: channels={channels!r}")
    rows = len(maps)
    figure = new_figure(1.5 * (channels + 1) + 0.6, 1.55 * rows + 0.5)
    axes = figure.subplots(rows, channels + 1, squeeze=False)
    image = to_nhwc(np.asarray(image)[None])[0]
    for row, (name, activations) in zip(axes, maps.items()):
        act = activations[0]
        _show_image(row[0], image, "input")
        order = np.argsort(act.mean(axis=(0, 1)))[::-1][:channels]
        vmax = float(act[..., order].max()) or 1.0
        shown = None
        for k, ax in enumerate(row[1:]):
            if k >= len(order):
                ax.axis("off")
                continue
            shown = ax.imshow(act[..., order[k]], cmap="viridis", vmin=min(0.0, float(act.min())), vmax=vmax)
            ax.set_title(f"{name}\nchannel {order[k]}" if k == 0 else f"channel {order[k]}", fontsize=8)
            ax.set_xlabel(f"x (of {act.shape[1]} px)", fontsize=7)
            ax.set_ylabel(f"y (of {act.shape[0]} px)", fontsize=7)
            ax.tick_params(labelsize=6)
        if shown is not None:
            figure.colorbar(shown, ax=row[1:].tolist(), shrink=0.8, label="activation (a.u.)")
    figure.suptitle(title or "Feature maps: the most active channels of each stage")
    return save_png(figure, path)


def plot_grad_cam(images, heatmaps, path, *, classes=None, probabilities=None, labels=None, class_names=None,
                  title=None, alpha=0.5):
    """Each image above its Grad-CAM overlay."""
    images = to_nhwc(np.asarray(images))
    count = len(images)
    figure = new_figure(2.0 * count + 0.8, 4.4)
    axes = figure.subplots(2, count, squeeze=False)
    name = (lambda i: class_names[i] if class_names is not None else str(i))
    shown = None
    for i in range(count):
        truth = f"true: {name(int(labels[i]))}" if labels is not None else f"image {i}"
        _show_image(axes[0, i], images[i], truth)
        _show_image(axes[1, i], images[i], "")
        shown = axes[1, i].imshow(heatmaps[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if classes is not None:
            explained = f"class: {name(int(classes[i]))}"
            if probabilities is not None:
                explained += f"\np = {float(probabilities[i]):.2f}"
            axes[1, i].set_title(explained, fontsize=8)
    figure.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.8, label="Grad-CAM (0-1, per image)")
    figure.suptitle(title or "Grad-CAM: where the evidence for the class is")
    return save_png(figure, path)


def plot_refinement(stats, path, contrast=None, labels=("residual", "plain"), title=None):
    """Ratio ||F(x)||/||x|| and input/output cosine along the depth; `contrast` (e.g. the plain twin's
    statistics) is drawn on the same axes."""
    figure = new_figure(max(6.0, 0.35 * len(stats) + 2), 6.0)
    ratio_ax, cosine_ax = figure.subplots(2, 1, sharex=True)
    for rows, label, marker in ((stats, labels[0], "o"), (contrast, labels[1], "s")):
        if not rows:
            continue
        x = np.arange(len(rows))
        ratio = np.array([r["ratio"] for r in rows])
        cosine = np.array([r["cosine"] for r in rows])
        ratio_ax.plot(x, ratio, marker=marker, label=label)
        cosine_ax.plot(x, cosine, marker=marker, label=label)
        down = np.array([r["downsampling"] for r in rows])
        if down.any():
            ratio_ax.scatter(x[down], ratio[down], s=120, facecolors="none", edgecolors="red", zorder=3)
            cosine_ax.scatter(x[down], cosine[down], s=120, facecolors="none", edgecolors="red", zorder=3)
    names = [r["block"] for r in stats]
    ratio_ax.set_yscale("log")
    ratio_ax.set_xlabel("block (input to output; names below)", fontsize=8)
    ratio_ax.set_ylabel("||F(x)|| / ||x||  (ratio, log scale)")
    ratio_ax.set_title("How much each block changes its input (red rings: down-sampling blocks)", fontsize=9)
    ratio_ax.legend(fontsize=8)
    cosine_ax.set_ylabel("cos(block input, output)")
    cosine_ax.set_xlabel("block (input to output)")
    cosine_ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize=7)
    cosine_ax.set_ylim(min(-0.05, np.nanmin([r["cosine"] for r in stats + (contrast or [])]) - 0.05), 1.05)
    cosine_ax.legend(fontsize=8)
    figure.suptitle(title or "Residual refinement along the depth")
    return save_png(figure, path)


def plot_receptive_fields(fields, path, title=None):
    """One panel per layer: the effective receptive field with its 90 % square, then radius against depth."""
    count = len(fields)
    figure = new_figure(2.3 * (count + 1) + 0.5, 3.0)
    axes = figure.subplots(1, count + 1, squeeze=False)[0]
    for ax, (name, field) in zip(axes, fields.items()):
        erf = field["erf"]
        shown = ax.imshow(erf / max(float(erf.max()), EPS), cmap="magma", vmin=0, vmax=1)
        cy, cx, r = erf.shape[0] // 2, erf.shape[1] // 2, field["radius"]
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((cx - r - 0.5, cy - r - 0.5), 2 * r + 1, 2 * r + 1, fill=False, ec="cyan", lw=1))
        ax.set_title(f"{name}\n{int(field['fraction'] * 100)}% within r = {r} px", fontsize=8)
        ax.set_xlabel("input x (px)", fontsize=8)
        ax.set_ylabel("input y (px)", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.colorbar(shown, ax=axes[:count].tolist(), shrink=0.8, label="|gradient| (relative to peak)")
    radii = [f["radius"] for f in fields.values()]
    axes[-1].plot(range(count), radii, marker="o")
    axes[-1].set_xticks(range(count), list(fields), rotation=45, ha="right", fontsize=7)
    axes[-1].set_ylabel("radius holding 90% (input px)")
    axes[-1].set_xlabel("layer (input to output)")
    axes[-1].set_title("Local to global", fontsize=9)
    figure.suptitle(title or "Effective receptive field of the centre unit")
    return save_png(figure, path)


def plot_lesions(study, path, contrast=None, labels=("residual", "plain"), title=None):
    """Accuracy drop (percentage points) per deleted block; `contrast` (another study) side by side."""
    studies = [(study, labels[0])] + ([(contrast, labels[1])] if contrast else [])
    blocks = []
    for result, _ in studies:
        blocks += [r["block"] for r in result["rows"] if r["block"] not in blocks]
    figure = new_figure(max(6.0, 0.4 * len(blocks) + 2), 4.0)
    ax = figure.subplots()
    width = 0.8 / len(studies)
    x = np.arange(len(blocks))
    for k, (result, label) in enumerate(studies):
        drops = {r["block"]: 100 * r["drop"] for r in result["rows"]}
        down = {r["block"]: r["downsampling"] for r in result["rows"]}
        values = [drops.get(b, np.nan) for b in blocks]
        bars = ax.bar(x + (k - (len(studies) - 1) / 2) * width, values, width,
                      label=f"{label} (baseline {100 * result['baseline']:.1f}%)")
        for bar, block in zip(bars, blocks):
            if down.get(block):
                bar.set_hatch("//")
    ax.set_xticks(x, blocks, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("accuracy drop (percentage points)")
    ax.set_xlabel("deleted block (hatched: down-sampling)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    figure.suptitle(title or f"Lesion study: one block deleted at test time ({study['num_images']} images)")
    return save_png(figure, path)


def plot_attention_masks(images, masks, path, title=None, alpha=0.55):
    """Each image, then its soft mask of every attention module overlaid.

    The channel-mean masks of a module span a narrow band of [0, 1], so each module's colours run from its
    own minimum to its maximum over the images shown (the range is in the column title)."""
    images = to_nhwc(np.asarray(images))
    count, modules = len(images), len(masks)
    figure = new_figure(1.9 * (modules + 1) + 0.8, 2.0 * count + 0.6)
    axes = figure.subplots(count, modules + 1, squeeze=False)
    shown = None
    for column, (name, mask) in enumerate(masks.items(), start=1):
        low, high = float(mask[:count].min()), float(mask[:count].max())
        for i in range(count):
            heading = f"{name.removesuffix('_mask_sigmoid')}\nM in [{low:.2f}, {high:.2f}]" if i == 0 else ""
            _show_image(axes[i, column], images[i], heading)
            shown = axes[i, column].imshow((mask[i] - low) / max(high - low, EPS), cmap="jet", alpha=alpha,
                                           vmin=0, vmax=1)
    for i in range(count):
        _show_image(axes[i, 0], images[i], f"image {i}")
    figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), shrink=0.8,
                    label="soft mask M(x), channel mean (0 = module's min, 1 = max)")
    figure.suptitle(title or "Residual Attention: soft masks of each module")
    return save_png(figure, path)
