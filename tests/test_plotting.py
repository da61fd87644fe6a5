"""plot_model and plot_history: real images of the expected size, the graph they draw, and their errors."""

import sys

import numpy as np
import pytest

import jseq
from jseq import layers
from jseq.utils import plotting
from jseq.utils.plotting import plot_history, plot_model

matplotlib = pytest.importorskip("matplotlib")
from matplotlib import image as mpimg  # noqa: E402 (after the skip)

ALL_OPTIONS = dict(show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True)


def read_png(path):
    """The PNG as an (height, width, channels) array, checked not to be blank."""
    pixels = mpimg.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 20 and pixels.shape[1] > 20
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 8, f"the image has only {len(colours)} colours: it looks blank"
    return pixels


# Models are built once per module: building (a jitted init) costs more than drawing.


@pytest.fixture(scope="module")
def mlp():
    return jseq.Sequential(
        [
            jseq.Input(shape=(784,)),
            layers.Dense(512, activation="relu", name="hidden"),
            layers.Dropout(0.2, name="drop"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="mlp",
    )


@pytest.fixture(scope="module")
def conv_stack():
    """12 layers: six convolutions, Flatten, and a Dense / Dropout head."""
    return jseq.Sequential(
        [jseq.Input(shape=(32, 32, 3))]
        + [layers.Conv2D(16 * (1 + i // 2), 3, activation="relu") for i in range(6)]
        + [layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dropout(0.5)]
        + [layers.Dense(32, activation="relu"), layers.Dropout(0.5), layers.Dense(10, activation="softmax")],
        name="convnet",
    )


@pytest.fixture(scope="module")
def nested():
    """A Sequential inside a Sequential inside a Sequential; the middle one frozen."""
    inner = jseq.Sequential([layers.Dense(8, name="i1"), layers.Dense(4, name="i2")], name="inner")
    middle = jseq.Sequential([layers.Dense(16, name="m1"), inner], name="middle")
    model = jseq.Sequential([jseq.Input(shape=(3,)), middle, layers.Dense(2, name="top")], name="outer")
    middle.trainable = False
    return model


def graph_of(model, **options):
    """The boxes' titles, the edges as title pairs, and the cluster titles that plot_model would draw."""
    defaults = dict(show_shapes=False, show_dtype=False, show_layer_names=True)
    defaults.update(show_layer_activations=False, show_trainable=False, expand_nested=False)
    graph = plotting._Graph({**defaults, **options})
    graph.add_model(model)
    titles = ["".join(text for text, _ in box["title"]) for box in graph.boxes]
    return titles, [(titles[u], titles[v]) for u, v in graph.edges], [c["title"] for c in graph.clusters]


# --------------------------------------------------------------------------------------------------------
# plot_model


def test_plot_model_mlp_is_a_readable_png_with_one_box_per_layer(tmp_path, mlp):
    path = tmp_path / "mlp.png"
    result = plot_model(mlp, to_file=path)
    pixels = read_png(path)
    assert pixels.shape[0] > pixels.shape[1]  # three boxes one above the other
    assert result == str(path) or type(result).__name__ == "Image"  # the path, or IPython's inline Image
    titles, edges, clusters = graph_of(mlp)
    assert titles == ["hidden (Dense)", "drop (Dropout)", "out (Dense)"]
    assert edges == [("hidden (Dense)", "drop (Dropout)"), ("drop (Dropout)", "out (Dense)")]
    assert clusters == []


def test_plot_model_box_contents(mlp):
    options = dict(show_layer_names=False, show_shapes=True, show_dtype=True)
    box = plotting._box_content(
        mlp.layers[0], {**options, "show_layer_activations": True, "show_trainable": True}
    )
    assert box["title"] == [("Dense", "bold")] and box["activation"] == "relu"
    assert box["cells"] == [
        ("Input shape", "(None, 784)", None),
        ("Output shape", "(None, 512)", None),
        ("Output dtype", "float32", None),
        (None, "Trainable", "trainable"),
    ]
    box = plotting._box_content(
        mlp.layers[1], {**options, "show_layer_activations": True, "show_trainable": True}
    )
    assert box["activation"] is None and len(box["cells"]) == 3  # Dropout: no activation, no weights


def test_plot_model_size_follows_dpi_and_content(tmp_path, mlp):
    plot_model(mlp, to_file=tmp_path / "a.png", dpi=100)
    plot_model(mlp, to_file=tmp_path / "b.png", dpi=200)
    small, large = read_png(tmp_path / "a.png"), read_png(tmp_path / "b.png")
    np.testing.assert_allclose(
        large.shape[:2], 2 * np.array(small.shape[:2]), rtol=0.03
    )  # text hinting varies
    plot_model(mlp, to_file=tmp_path / "c.png", dpi=100, **ALL_OPTIONS)
    detailed = read_png(tmp_path / "c.png")
    assert detailed.shape[1] > small.shape[1] and detailed.shape[0] > small.shape[0]  # boxes fit their text


def test_plot_model_conv_stack_top_to_bottom_and_left_to_right(tmp_path, conv_stack):
    assert len(conv_stack.layers) == 12
    plot_model(conv_stack, to_file=tmp_path / "tb.png", show_shapes=True, dpi=60)
    plot_model(conv_stack, to_file=tmp_path / "lr.png", show_shapes=True, dpi=60, rankdir="LR")
    tb, lr = read_png(tmp_path / "tb.png"), read_png(tmp_path / "lr.png")
    assert tb.shape[0] > 3 * tb.shape[1]  # twelve boxes in a column
    assert lr.shape[1] > 3 * lr.shape[0]  # twelve boxes in a row
    titles, edges, _ = graph_of(conv_stack)
    assert titles == [f"{layer.name} ({type(layer).__name__})" for layer in conv_stack.layers]
    assert edges == list(zip(titles, titles[1:]))


def test_plot_model_nested_model_is_one_box_or_a_frame(tmp_path, nested):
    titles, edges, clusters = graph_of(nested)
    assert titles == ["middle (Sequential)", "top (Dense)"] and edges == [(titles[0], titles[1])]
    titles, edges, clusters = graph_of(nested, expand_nested=True)
    assert titles == ["m1 (Dense)", "i1 (Dense)", "i2 (Dense)", "top (Dense)"]
    assert sorted(edges) == sorted(zip(titles, titles[1:]))  # into the frames and out of them
    assert clusters == ["middle (Sequential)", "inner (Sequential)"]
    plot_model(nested, to_file=tmp_path / "flat.png", show_shapes=True, dpi=80)
    plot_model(nested, to_file=tmp_path / "expanded.png", show_shapes=True, dpi=80, expand_nested=True)
    flat, expanded = read_png(tmp_path / "flat.png"), read_png(tmp_path / "expanded.png")
    assert expanded.shape[0] > 1.5 * flat.shape[0]  # four boxes and two frames, against two boxes
    for rankdir in ("BT", "LR", "RL"):
        path = tmp_path / f"{rankdir}.png"
        plot_model(nested, to_file=path, expand_nested=True, dpi=60, rankdir=rankdir, **ALL_OPTIONS)
        pixels = read_png(path)
        assert (pixels.shape[1] > pixels.shape[0]) == (rankdir in ("LR", "RL"))


def test_plot_model_writes_svg_and_pdf_by_suffix(tmp_path, mlp):
    plot_model(mlp, to_file=tmp_path / "m.svg", show_shapes=True)
    text = (tmp_path / "m.svg").read_text()
    assert "<svg" in text and "</svg>" in text
    plot_model(mlp, to_file=tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_model_functional_graph(tmp_path):
    if not hasattr(jseq, "Model"):
        pytest.skip("jseq.Model (the functional API) is not in this version")
    inputs = jseq.Input(shape=(784,), name="pixels")
    a = layers.Dense(64, activation="relu", name="a")(inputs)
    b = layers.Dense(64, activation="relu", name="b")(inputs)
    merged = layers.Add(name="sum")([a, b])
    outputs = layers.Dense(10, activation="softmax", name="out")(merged)
    model = jseq.Model(inputs=inputs, outputs=outputs)
    titles, edges, _ = graph_of(model)
    assert set(titles) == {"pixels (InputLayer)", "a (Dense)", "b (Dense)", "sum (Add)", "out (Dense)"}
    assert sorted(edges) == sorted(
        [
            ("pixels (InputLayer)", "a (Dense)"),
            ("pixels (InputLayer)", "b (Dense)"),
            ("a (Dense)", "sum (Add)"),
            ("b (Dense)", "sum (Add)"),
            ("sum (Add)", "out (Dense)"),
        ]
    )
    plot_model(model, to_file=tmp_path / "f.png", show_shapes=True, dpi=80)
    pixels = read_png(tmp_path / "f.png")
    assert pixels.shape[1] > 300  # two boxes side by side

    # Nested in a bigger model and expanded: edges go to the nested model's Input and from its output.
    outer_in = jseq.Input(shape=(784,), name="image")
    outer = jseq.Model(outer_in, layers.Dense(1, name="score")(model(outer_in)))
    _, edges, clusters = graph_of(outer, expand_nested=True)
    assert ("image (InputLayer)", "pixels (InputLayer)") in edges and (
        "out (Dense)",
        "score (Dense)",
    ) in edges
    assert len(clusters) == 1
    plot_model(outer, to_file=tmp_path / "g.png", expand_nested=True, dpi=60)
    read_png(tmp_path / "g.png")


def test_plot_model_errors(tmp_path, mlp):
    unbuilt = jseq.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="has not yet been built"):
        plot_model(unbuilt, to_file=tmp_path / "u.png")
    with pytest.raises(ValueError, match=r"Invalid rankdir: 'XY'.*'TB', 'BT', 'LR', 'RL'"):
        plot_model(mlp, to_file=tmp_path / "m.png", rankdir="XY")
    with pytest.raises(ValueError, match=r"unknown file type '\.bmpx'.*\.png"):
        plot_model(mlp, to_file=tmp_path / "m.bmpx")
    with pytest.raises(TypeError, match="splines"):
        plot_model(mlp, to_file=tmp_path / "m.png", splines="ortho")
    assert not list(tmp_path.iterdir())


def test_plot_model_returns_the_path_without_ipython(tmp_path, monkeypatch, mlp):
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert plot_model(mlp, to_file=tmp_path / "m.png") == str(tmp_path / "m.png")


# --------------------------------------------------------------------------------------------------------
# plot_history


@pytest.fixture(scope="module")
def fitted_history():
    """A real History: 3 epochs of a tiny classifier, with a validation split."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = jseq.Sequential([jseq.Input(shape=(4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)


def test_plot_history_training_against_validation(tmp_path, fitted_history):
    path = tmp_path / "curves.png"
    fig = plot_history(fitted_history, to_file=path, dpi=100)
    pixels = read_png(path)
    assert pixels.shape[:2] == (360, 960)  # two panels of 4.8 x 3.6 inches at 100 dpi
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    for ax, name in zip(axes, ["loss", "accuracy"]):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert lines["training"].get_linestyle() == "-" and lines["validation"].get_linestyle() == "--"
        np.testing.assert_allclose(lines["training"].get_ydata(), fitted_history.history[name])
        np.testing.assert_allclose(lines["validation"].get_ydata(), fitted_history.history["val_" + name])
        assert list(lines["training"].get_xdata()) == [1, 2, 3]
        best = [label for label in lines if label.startswith("best validation")]
        assert len(best) == 1


def test_history_plot_method_is_plot_history(tmp_path, fitted_history):
    fig = fitted_history.plot(metrics="loss", to_file=tmp_path / "loss.svg", title="over-fitting?")
    assert "<svg" in (tmp_path / "loss.svg").read_text()
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    assert fig._suptitle.get_text() == "over-fitting?"


def test_plot_history_without_validation_and_choice_of_metrics(tmp_path):
    history = {"loss": [0.9, 0.5, 0.3, 0.2], "accuracy": [0.6, 0.8, 0.9, 0.95], "mae": [0.4, 0.3, 0.2, 0.1]}
    fig = plot_history(history, to_file=tmp_path / "h.png", dpi=50)
    assert read_png(tmp_path / "h.png").shape[:2] == (180, 720)  # three panels side by side
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "mae"]  # loss first, then by name
    assert all([line.get_label() for line in ax.get_lines()] == ["training"] for ax in fig.axes)
    fig = plot_history(history, metrics=["mae", "val_loss"], to_file=tmp_path / "two.png", dpi=50)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["mae", "loss"]
    with pytest.raises(
        ValueError, match=r"No metric 'auc' in this history. Available: \['loss', 'accuracy', "
    ):
        plot_history(history, metrics="auc")


def test_plot_history_validation_every_other_epoch():
    history = {"loss": [1.0, 0.8, 0.6, 0.5, 0.4], "val_loss": [0.9, 0.7]}  # validation_freq=2
    fig = plot_history(history, to_file=None)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["validation"].get_xdata()) == [2, 4]
    matplotlib.pyplot.close(fig)


def test_plot_history_errors():
    with pytest.raises(ValueError, match="history is empty"):
        plot_history({})
    with pytest.raises(TypeError, match="History that `fit` returns"):
        plot_history([0.5, 0.4])


# --------------------------------------------------------------------------------------------------------
# Without matplotlib


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch, fitted_history, mlp):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    hint = (
        r'plot_model needs matplotlib, which is not installed. Install it with `pip install "jseq\[plot\]"`'
    )
    with pytest.raises(ImportError, match=hint):
        plot_model(mlp, to_file=tmp_path / "m.png")
    with pytest.raises(ImportError, match=r"plot_history needs matplotlib.*pip install matplotlib"):
        plot_history(fitted_history)
    with pytest.raises(ImportError, match=r"pip install \"jseq\[plot\]\""):
        fitted_history.plot()
    assert not list(tmp_path.iterdir())
