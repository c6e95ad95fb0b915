"""The pictures of explainability, each a matplotlib ``Figure`` (drawn without pyplot).

Write one with ``report.save_figure(fig, path)``, or show it in a notebook. matplotlib is
imported inside each function, so ``import minitransfer.explain`` needs only NumPy.

| picture                                           | function                  |
|---------------------------------------------------|---------------------------|
| first-layer weights as images, model by model     | ``first_layer_weights``   |
| images beside their attribution maps              | ``attribution_grid``      |
| one number per body layer per strategy (CKA, drift)| ``per_layer_bars``        |
| 2-D PCA of body features coloured by class        | ``pca_panels``            |
| Yosinski's curve: accuracy vs layers copied       | ``layerwise_curve``       |
"""

import numpy as np


def _figure(width, height, rows=1, columns=1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, columns, squeeze=False)
    return fig, axes


def _image(ax, values, image_shape, cmap="gray", limit=None):
    values = np.asarray(values, dtype=np.float64).reshape(image_shape)
    if limit is None:
        ax.imshow(values, cmap=cmap)
    else:
        ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])


def first_layer_weights(weights, image_shape, units=8):
    """``weights``: {row title: first-layer weight matrix (hidden × pixels)}; one row each.

    Each small image is one hidden unit's weights (the pixel pattern it responds to), drawn on
    a blue-white-red scale symmetric around 0 and shared along the row.
    """
    fig, axes = _figure(1.1 * units + 1.2, 1.2 * len(weights), len(weights), units)
    for row, (title, matrix) in enumerate(weights.items()):
        matrix = np.asarray(matrix)[:units]
        limit = float(np.abs(matrix).max()) or 1.0
        for unit in range(units):
            _image(axes[row, unit], matrix[unit], image_shape, cmap="bwr", limit=limit)
        axes[row, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"first-layer weights of hidden units 1-{units} (blue < 0 < red)", fontsize=9)
    return fig


def attribution_grid(images, maps, image_shape, title=""):
    """``images`` (n, d) in the first column; ``maps``: {column title: (n, d) attributions}.

    Signed maps (integrated gradients, occlusion) use blue < 0 < red, one scale per map and
    image; an all-non-negative map (saliency) uses shades of red.
    """
    images = np.asarray(images)
    columns = 1 + len(maps)
    fig, axes = _figure(1.25 * columns, 1.3 * len(images) + 0.3, len(images), columns)
    for row, image in enumerate(images):
        _image(axes[row, 0], image, image_shape)
        for col, (name, values) in enumerate(maps.items(), start=1):
            values = np.asarray(values[row])
            limit = float(np.abs(values).max()) or 1.0
            if values.min() >= 0:
                _image(axes[row, col], values, image_shape, cmap="Reds")
            else:
                _image(axes[row, col], values, image_shape, cmap="bwr", limit=limit)
            if row == 0:
                axes[row, col].set_title(name, fontsize=7)
    axes[0, 0].set_title("image", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def per_layer_bars(values, ylabel, title):
    """``values``: {strategy: {layer: (mean, std)}}; grouped bars, one group per layer."""
    strategies = list(values)
    layers = list(next(iter(values.values())))
    fig, axes = _figure(1.2 + 1.1 * len(layers) * max(1, len(strategies)) / 2, 3.2)
    ax = axes[0, 0]
    width = 0.8 / len(strategies)
    for i, strategy in enumerate(strategies):
        means = [values[strategy][layer][0] for layer in layers]
        spreads = [values[strategy][layer][1] for layer in layers]
        positions = np.arange(len(layers)) + (i - (len(strategies) - 1) / 2) * width
        ax.bar(positions, means, width, yerr=spreads, capsize=2, label=strategy)
    ax.set_xticks(np.arange(len(layers)))
    ax.set_xticklabels(layers)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def pca_panels(panels, labels, label_name="class"):
    """``panels``: {title: (n, 2) PCA coordinates}; the points coloured by their class ``labels``."""
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    fig, axes = _figure(2.6 * len(panels), 2.9, 1, len(panels))
    for ax, (title, coordinates) in zip(axes[0], panels.items()):
        for label in np.unique(labels):
            chosen = labels == label
            ax.scatter(coordinates[chosen, 0], coordinates[chosen, 1], s=5, color=colours(int(label) % 10),
                       label=f"{label_name} {label}")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(fontsize=6, markerscale=2, loc="best")
    fig.suptitle("2-D PCA of the last body layer's features (stats.pca)", fontsize=9)
    return fig


def layerwise_curve(rows):
    """``rows``: dicts with layers_copied, frozen, mean, std (accuracy); two lines over j."""
    fig, axes = _figure(4.2, 3.0)
    ax = axes[0, 0]
    for frozen, name in ((True, "copied layers frozen"), (False, "copied layers fine-tuned")):
        chosen = [r for r in rows if r["frozen"] == frozen]
        ax.errorbar([r["layers_copied"] for r in chosen], [100 * r["mean"] for r in chosen],
                    yerr=[100 * r["std"] for r in chosen], marker="o", capsize=3, label=name)
    ax.set_xlabel("j: body layers copied from pretraining (0 = scratch)")
    ax.set_ylabel("target test accuracy (%)")
    ax.set_xticks(sorted({r["layers_copied"] for r in rows}))
    ax.legend(fontsize=7)
    ax.set_title("layer-wise transferability (Yosinski et al., 2014)", fontsize=9)
    return fig
