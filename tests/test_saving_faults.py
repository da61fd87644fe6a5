"""Damaged, malicious and interrupted files.

Every damaged file raises jseq's `FileFormatError` naming the file (or, where the damage hit bytes that carry
nothing, loads the very same model); no malicious file runs its payload; a save that is killed, fails or
fills the disk leaves the previous file loadable and no temporary file after the next save.
"""

import base64
import io
import json
import marshal
import os
import random
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import jseq
from jseq import layers as L
from jseq.saving import FileFormatError, UnsafeFileError
from jseq.saving import files as saving_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small compiled model saved as `.keras` and `.weights.h5`, and the predictions to compare with."""
    folder = tmp_path_factory.mktemp("good")
    model = jseq.Sequential(
        [jseq.Input((4,)), L.Dense(3, activation="relu"), L.BatchNormalization(), L.Dense(2)]
    )
    model.compile("adam", "mse", metrics=["mae"])
    model.save(folder / "good.keras")
    model.save_weights(folder / "good.weights.h5")
    return folder, model


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _write_members(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)


def _same_model(a, b):
    return (
        a.to_json() == b.to_json()
        and all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
        and len(a.get_weights()) == len(b.get_weights())
    )


def _refused_or_harmless(path, original):
    """Load `path`: a jseq error naming the file is fine, and so is a model equal to the original (the
    damage hit bytes that carry nothing); anything else (another exception, another model) fails."""
    try:
        loaded = jseq.models.load_model(path)
    except FileFormatError as error:
        assert str(path) in str(error)
        return "refused"
    assert _same_model(loaded, original), f"{path} loaded as a different model"
    return "harmless"


# --------------------------------------------------------------------------------------------------------
# Damaged files (a fuzz-style sweep)


def test_truncated_keras_file_is_refused_at_every_length(good, tmp_path):
    folder, _ = good
    data = (folder / "good.keras").read_bytes()
    for percent in range(0, 100, 5):
        path = tmp_path / f"t{percent}.keras"
        path.write_bytes(data[: len(data) * percent // 100])
        with pytest.raises(FileFormatError, match=f"t{percent}.keras") as info:
            jseq.models.load_model(path)
        assert "empty" in str(info.value) if percent == 0 else "truncated" in str(info.value)


def test_truncated_weights_file_is_refused_and_the_model_is_unchanged(good, tmp_path):
    folder, model = good
    data = (folder / "good.weights.h5").read_bytes()
    before = model.get_weights()
    for percent in range(0, 100, 5):
        path = tmp_path / f"t{percent}.weights.h5"
        path.write_bytes(data[: len(data) * percent // 100])
        with pytest.raises(FileFormatError, match=f"t{percent}.weights.h5"):
            model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_flipped_bytes_are_caught_or_harmless(good, tmp_path):
    folder, model = good
    rng = random.Random(0)
    outcomes = []
    other = jseq.Sequential([jseq.Input((4,)), L.Dense(3, "relu"), L.BatchNormalization(), L.Dense(2)])
    zeros = [np.zeros_like(w) for w in other.get_weights()]
    for name in ("good.keras", "good.weights.h5"):
        data = (folder / name).read_bytes()
        for i in range(25):
            damaged = bytearray(data)
            position = rng.randrange(len(data))
            damaged[position] ^= 1 << rng.randrange(8)
            path = tmp_path / f"flip{i}.{name}"
            path.write_bytes(bytes(damaged))
            if name.endswith(".keras"):
                outcomes.append(_refused_or_harmless(path, model))
                continue
            other.set_weights(zeros)
            try:
                other.load_weights(path)
                assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
                outcomes.append("harmless")
            except ValueError as error:  # FileFormatError, or a shape mismatch from a damaged header
                assert str(path) in str(error)
                assert all(np.array_equal(a, b) for a, b in zip(zeros, other.get_weights()))
                outcomes.append("refused")
    assert outcomes.count("refused") >= 20  # most bytes matter; the rest changed nothing


def test_flips_in_the_weights_data_are_always_caught(good, tmp_path):
    """The bytes of the arrays themselves: the zip CRC protects them in `.keras`, jseq's checksum in
    `.weights.h5` (Keras's format alone would load the wrong number silently)."""
    folder, model = good
    data = (folder / "good.weights.h5").read_bytes()
    kernel = model.layers[0].weights[0].numpy().tobytes()
    start = data.find(kernel)
    assert start > 0
    for offset in (0, len(kernel) // 2, len(kernel) - 1):
        damaged = bytearray(data)
        damaged[start + offset] ^= 0x10
        path = tmp_path / f"data{offset}.weights.h5"
        path.write_bytes(bytes(damaged))
        with pytest.raises(FileFormatError, match="checksum"):
            model.load_weights(path)
        archive = tmp_path / f"data{offset}.keras"
        members = dict(_members(folder / "good.keras"))
        raw = bytearray((folder / "good.keras").read_bytes())
        at = raw.find(members["model.weights.h5"]) + start + offset
        raw[at] ^= 0x10
        archive.write_bytes(bytes(raw))
        with pytest.raises(FileFormatError, match="CRC|damaged"):
            jseq.models.load_model(archive)


@pytest.mark.parametrize("member", ["metadata.json", "config.json", "model.weights.h5"])
def test_missing_or_duplicated_members_are_named(good, tmp_path, member):
    folder, _ = good
    members = _members(folder / "good.keras")
    _write_members(tmp_path / "drop.keras", [(n, d) for n, d in members if n != member])
    with pytest.raises(FileFormatError, match=f"drop.keras.*no {member}"):
        jseq.models.load_model(tmp_path / "drop.keras")
    with pytest.warns(UserWarning, match="Duplicate name"):
        _write_members(tmp_path / "dup.keras", members + [(n, d) for n, d in members if n == member])
    with pytest.raises(FileFormatError, match=f"dup.keras.*{member}.*more than once"):
        jseq.models.load_model(tmp_path / "dup.keras")


def test_not_a_zip_and_not_json_are_told_apart(good, tmp_path):
    folder, _ = good
    (tmp_path / "random.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(FileFormatError, match="not a zip file"):
        jseq.models.load_model(tmp_path / "random.keras")
    members = dict(_members(folder / "good.keras"))
    config = json.loads(members["config.json"])
    config["config"]["extra"] = json.loads("[" * 300 + "]" * 300)
    cases = [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "JSON object"),
        ("{}", "model"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "too deeply"),  # beyond Python's recursion limit
        (json.dumps(config), "more than 200 deep"),
    ]
    for text, reason in cases:
        _write_members(tmp_path / "bad.keras", [*{**members, "config.json": text.encode()}.items()])
        with pytest.raises(FileFormatError, match=reason):
            jseq.models.load_model(tmp_path / "bad.keras")


@pytest.mark.parametrize(
    "change, cause",
    [
        (lambda layers: layers[1].update(class_name="Dense2"), "unknown layer type 'Dense2'"),
        (lambda layers: layers[1]["config"].update(foo=1), "Dense has no argument 'foo'"),
        (lambda layers: layers[1]["config"].update(units=-5), "units=-5"),
        (
            lambda layers: layers.append({**layers[3], "config": {**layers[3]["config"], "name": "extra"}}),
            "layer 'extra'.*expects 2 weights",
        ),
    ],
    ids=["unknown_class", "unknown_argument", "bad_value", "extra_layer"],
)
def test_config_errors_name_the_layer_and_the_cause(good, tmp_path, change, cause):
    folder, _ = good
    members = dict(_members(folder / "good.keras"))
    config = json.loads(members["config.json"])
    change(config["config"]["layers"])
    members["config.json"] = json.dumps(config).encode()
    _write_members(tmp_path / "bad.keras", list(members.items()))
    with pytest.raises(FileFormatError, match=f"(?s)bad.keras.*{cause}"):
        jseq.models.load_model(tmp_path / "bad.keras")


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def _with(obj, path, value):
    if not path:
        return value
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    copy[path[0]] = _with(obj[path[0]], path[1:], value)
    return copy


@pytest.mark.filterwarnings("ignore:Skipping variable loading")  # a field that froze a layer
def test_json_fields_of_the_wrong_type_give_a_jseq_error(good, tmp_path):
    """Each field of config.json / metadata.json replaced by a value of another type: a FileFormatError,
    or (where the new value is still a valid setting) a model that loads; never another exception."""
    folder, _ = good
    members = dict(_members(folder / "good.keras"))
    rng = random.Random(1)
    cases = []
    for member in ("config.json", "metadata.json"):
        document = json.loads(members[member])
        for path in _paths(document):
            for value in (7, 2.5, "text", [], {}, None, True):
                cases.append((member, document, path, value))
    outcomes = []
    for member, document, path, value in rng.sample(cases, 80):
        changed = _with(document, path, value)
        if changed == document:
            continue
        damaged = {**members, member: json.dumps(changed).encode()}
        file = tmp_path / "typed.keras"
        _write_members(file, list(damaged.items()))
        try:
            jseq.models.load_model(file)
            outcomes.append("loaded")
        except FileFormatError as error:
            assert "typed.keras" in str(error), str(error)
            outcomes.append("refused")
    assert outcomes.count("refused") > len(outcomes) // 2


def test_a_layer_asking_for_absurd_sizes_is_refused_before_allocating(good, tmp_path):
    folder, _ = good
    members = dict(_members(folder / "good.keras"))
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["units"] = 2**31
    members["config.json"] = json.dumps(config).encode()
    _write_members(tmp_path / "huge.keras", list(members.items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(
        FileFormatError, match=r"(?s)huge.keras.*\(4, 2147483648\) in the model but \(4, 3\) in the file"
    ):
        jseq.models.load_model(tmp_path / "huge.keras")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500_000  # KiB: nothing like 8 GiB
    # The same size declared by the weights too, but not stored: an HDF5 shape bomb.
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(members["model.weights.h5"]), "r") as src, h5py.File(buffer, "w") as dst:
        for key in src:
            src.copy(src[key], dst, key)
        del dst["layers/dense/vars/0"]
        dst["layers/dense/vars"].create_dataset("0", shape=(4, 2**31), dtype="float32")
    members["model.weights.h5"] = buffer.getvalue()
    _write_members(tmp_path / "bomb.keras", list(members.items()))
    with pytest.raises(UnsafeFileError, match="shape bomb"):
        jseq.models.load_model(tmp_path / "bomb.keras")


# --------------------------------------------------------------------------------------------------------
# Malicious files: harmless payloads that would create a marker file if anything ran them


def _payloads(marker):
    lam = lambda x: open(marker, "w").write("ran") and x  # noqa: E731
    code = base64.b64encode(marshal.dumps(lam.__code__)).decode()
    lambda_fn = {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}
    dense = {"module": "keras.layers", "class_name": "Dense", "registered_name": None}
    return {
        "lambda_layer": {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {"name": "evil", "function": lambda_fn, "arguments": {}},
            "registered_name": None,
        },
        "lambda_activation": {**dense, "config": {"name": "evil", "units": 2, "activation": lambda_fn}},
        "os_system": {"module": "os", "class_name": "system", "config": {"command": f"touch {marker}"}},
        "builtins_eval": {
            **dense,
            "config": {
                "name": "evil",
                "units": 2,
                "activation": {"module": "builtins", "class_name": "function", "config": "eval"},
            },
        },
        "numpy_load": {"module": "numpy", "class_name": "load", "config": {"file": str(marker)}},
        "keras_get_file": {
            **dense,
            "config": {
                "name": "evil",
                "units": 2,
                "activation": {"module": "keras.utils", "class_name": "function", "config": "get_file"},
            },
        },
        "unsafe_switch": {
            **dense,
            "config": {
                "name": "evil",
                "units": 2,
                "activation": {
                    "module": "keras.config",
                    "class_name": "function",
                    "config": "enable_unsafe_deserialization",
                },
            },
        },
        "keras_internal_class": {
            "module": "keras.src.utils.file_utils",
            "class_name": "get_file",
            "config": {"origin": f"file://{marker}"},
        },
        "known_name_foreign_module": {"module": "os", "class_name": "Dense", "config": {"units": 2}},
    }


@pytest.mark.parametrize("payload", list(_payloads("m")))
def test_malicious_configs_are_refused_and_never_run(good, tmp_path, payload):
    folder, _ = good
    marker = tmp_path / "MARKER"
    entry = _payloads(str(marker))[payload]
    members = dict(_members(folder / "good.keras"))
    config = json.loads(members["config.json"])
    config["config"]["layers"].insert(2, entry)
    members["config.json"] = json.dumps(config).encode()
    _write_members(tmp_path / "evil.keras", list(members.items()))
    with pytest.raises(UnsafeFileError, match="evil.keras"):
        jseq.models.load_model(tmp_path / "evil.keras")
    with pytest.raises(UnsafeFileError):
        jseq.models.model_from_json(json.dumps(config))
    # The same payload as the optimizer or the loss of the compile settings.
    for field in ("optimizer", "loss"):
        compiled = {**config, "compile_config": {**config["compile_config"], field: entry}}
        compiled["config"] = {**config["config"], "layers": config["config"]["layers"][:2]}
        members["config.json"] = json.dumps(compiled).encode()
        _write_members(tmp_path / "evil2.keras", list(members.items()))
        with pytest.raises(FileFormatError, match="evil2.keras"):
            jseq.models.load_model(tmp_path / "evil2.keras")
    assert not marker.exists()


def test_archive_paths_outside_the_archive_are_refused(good, tmp_path):
    folder, _ = good
    members = _members(folder / "good.keras")
    for name in ("../../escape.txt", "/tmp/escape.txt", "assets/../../escape.txt", "assets/x.txt"):
        _write_members(tmp_path / "slip.keras", members + [(name, b"payload")])
        with pytest.raises(UnsafeFileError, match="slip.keras"):
            jseq.models.load_model(tmp_path / "slip.keras")
    assert (
        not (tmp_path.parent / "escape.txt").exists() and not (tmp_path.parent.parent / "escape.txt").exists()
    )


@pytest.mark.parametrize("link", ["external", "soft"])
def test_hdf5_links_are_refused(good, tmp_path, link):
    folder, model = good
    with h5py.File(tmp_path / "target.h5", "w") as f:
        f["data"] = np.ones((4, 3), "float32")
    path = tmp_path / "linked.weights.h5"
    with h5py.File(folder / "good.weights.h5", "r") as src, h5py.File(path, "w") as dst:
        for key in src:
            src.copy(src[key], dst, key)
        del dst["layers/dense/vars/0"]
        if link == "external":
            dst["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "target.h5"), "/data")
        else:
            dst["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense/vars/1")
    with pytest.raises(UnsafeFileError, match=f"{link} link"):
        model.load_weights(path)


def test_zip_bombs_and_oversized_members_are_refused(good, tmp_path, monkeypatch):
    folder, _ = good
    members = dict(_members(folder / "good.keras"))
    padded = members["config.json"] + b" " * 3_000_000  # valid JSON, compresses about 1000:1
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**members, "config.json": padded}.items():
            zf.writestr(name, data)
    with pytest.raises(UnsafeFileError, match="decompression bomb"):
        jseq.models.load_model(tmp_path / "bomb.keras")
    monkeypatch.setattr(saving_files, "MAX_JSON_BYTES", 500)
    with pytest.raises(UnsafeFileError, match="config.json.*more than"):
        jseq.models.load_model(folder / "good.keras")


def test_the_saving_code_cannot_run_code_from_files():
    """No pickle, marshal, eval or dynamic import anywhere in jseq's saving code."""
    sources = [p.read_text() for p in (ROOT / "jseq" / "saving").glob("*.py")]
    sources.append((ROOT / "jseq" / "callbacks.py").read_text())
    for needle in ("pickle", "marshal", "eval(", "exec(", "importlib", "__import__", "allow_pickle=True"):
        assert not any(needle in text for text in sources), needle


# --------------------------------------------------------------------------------------------------------
# Interrupted saves: exceptions, full disks, killed processes


def _no_temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(".jseq-tmp")] == []


def test_an_exception_mid_save_leaves_the_old_file(good, tmp_path, monkeypatch):
    folder, model = good
    target = tmp_path / "m.keras"
    target.write_bytes((folder / "good.keras").read_bytes())
    bigger = jseq.Sequential([jseq.Input((4,)), L.Dense(8), L.Dense(2)])
    calls = []

    def failing_writestr(self, name, data, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(self, name, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="No space left"):
        bigger.save(target)
    monkeypatch.undo()
    assert _same_model(jseq.models.load_model(target), model) and _no_temporaries(tmp_path)


_CHILD = """
import os, resource, signal, sys, zipfile
import numpy as np
import jseq
from jseq import layers as L
from jseq.saving import files

mode, folder = sys.argv[1], sys.argv[2]

def model(width, fill):
    m = jseq.Sequential([jseq.Input((32,)), L.Dense(width), L.Dense(8)])
    m.set_weights([np.full(w.shape, fill, w.dtype) for w in m.get_weights()])
    return m

def kill_on(owner, name, after=0):
    original, calls = getattr(owner, name), []
    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

if mode == "loop":  # save two versions in turn, forever
    versions = [model(256, 0.0), model(256, 1.0)]
    print("ready", flush=True)
    i = 0
    while True:
        versions[i % 2].save(os.path.join(folder, "m.keras"))
        versions[i % 2].save_weights(os.path.join(folder, "w.weights.h5"))
        i += 1
elif mode == "disk":  # a full disk, then a kill, while saving over a good file
    small = model(4, 0.0)
    small.save(os.path.join(folder, "m.keras"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = os.path.getsize(os.path.join(folder, "m.keras")) + 2000
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # the disk is full after 2 kB more
    try:
        model(512, 1.0).save(os.path.join(folder, "m.keras"))
    except OSError as error:
        print("full", error.errno, flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print("temporaries", [n for n in os.listdir(folder) if n.endswith(".jseq-tmp")], flush=True)
    kill_on(zipfile.ZipFile, "writestr", after=1)  # dies with half an archive written
    model(512, 1.0).save(os.path.join(folder, "m.keras"))
elif mode == "checkpoint":  # ModelCheckpoint killed while writing epoch 3
    m = jseq.Sequential([jseq.Input((4,)), L.Dense(3), L.Dense(1)])
    m.compile("sgd", "mse")
    class Arm(jseq.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                np.savez(os.path.join(folder, "epoch2.npz"), *m.get_weights())
            if epoch == 2:
                kill_on(files.os, "fsync")  # the new file is written but never renamed
    ck = jseq.callbacks.ModelCheckpoint(os.path.join(folder, "ck.weights.h5"), save_weights_only=True)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    m.fit(x, x[:, :1], epochs=5, batch_size=4, verbose=0, callbacks=[Arm(), ck])
"""


def _child(mode, folder):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode, str(folder)], env=env, stdout=subprocess.PIPE, text=True
    )


def _fill_of(weights):
    values = {float(v) for w in weights for v in np.unique(w)}
    assert len(values) == 1, values
    return values.pop()


@pytest.mark.slow
def test_killed_saves_never_leave_a_broken_file(tmp_path):
    """SIGKILL at any moment of a save loop (seen through SIGSTOP snapshots: the state a kill would
    leave), a kill mid-archive, a full disk, a killed checkpoint: the file always loads, old or new."""
    loop, disk, checkpoint = tmp_path / "loop", tmp_path / "disk", tmp_path / "checkpoint"
    for folder in (loop, disk, checkpoint):
        folder.mkdir()
    others = [_child("disk", disk), _child("checkpoint", checkpoint)]
    child = _child("loop", loop)
    assert child.stdout.readline().strip() == "ready"
    rng = random.Random(0)
    snapshots = []
    for i in range(8):
        time.sleep(rng.uniform(0.05, 0.3))
        os.kill(child.pid, signal.SIGSTOP)
        for name in ("m.keras", "w.weights.h5"):
            if (loop / name).exists():
                snapshots.append(tmp_path / f"snap{i}.{name}")
                snapshots[-1].write_bytes((loop / name).read_bytes())
        os.kill(child.pid, signal.SIGCONT)
    time.sleep(rng.uniform(0.05, 0.3))
    child.kill()
    child.wait()
    for path in snapshots + [loop / "m.keras", loop / "w.weights.h5"]:
        if path.name.endswith(".keras"):
            weights = jseq.models.load_model(path).get_weights()
        else:
            target = jseq.Sequential([jseq.Input((32,)), L.Dense(256), L.Dense(8)])
            target.load_weights(path)
            weights = target.get_weights()
        assert _fill_of(weights) in (0.0, 1.0)
    assert len(snapshots) >= 8

    out, _ = others[0].communicate(timeout=120)
    assert others[0].returncode == -signal.SIGKILL and "full 27" in out and "temporaries []" in out
    assert _fill_of(jseq.models.load_model(disk / "m.keras").get_weights()) == 0.0
    assert not _no_temporaries(disk)  # the killed save left its temporary file ...
    jseq.Sequential([jseq.Input((2,)), L.Dense(1)]).save(disk / "m.keras")
    assert _no_temporaries(disk)  # ... which the next save removes

    others[1].communicate(timeout=120)
    assert others[1].returncode == -signal.SIGKILL
    epoch2 = np.load(checkpoint / "epoch2.npz")
    restored = jseq.Sequential([jseq.Input((4,)), L.Dense(3), L.Dense(1)])
    restored.load_weights(checkpoint / "ck.weights.h5")
    assert all(np.array_equal(a, epoch2[f"arr_{i}"]) for i, a in enumerate(restored.get_weights()))
