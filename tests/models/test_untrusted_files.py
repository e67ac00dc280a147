"""Model and weights files are untrusted input: hostile HDF5 datasets, zip bombs, path-like archive members,
malformed configs (fuzzed) and NaN weights. Every hostile file is generated here; allocations are measured with
tracemalloc (numpy and h5py report theirs to it), so a refused bomb is known to be refused before allocation."""

import io
import json
import os
import random
import struct
import tracemalloc
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import cnnkit
from cnnkit.models import load_model

L = cnnkit.layers


def _small(units=3, input_dim=4):
    model = cnnkit.models.Sequential([L.Input(shape=(input_dim,)), L.Dense(units, name="dense")], name="small")
    for weight in model.weights:
        weight.data.uniform_(-1, 1)
    return model


def _conv_model(k=cnnkit):
    """A compiled graph with a nested model, a merge, BatchNormalization and Dropout (in cnnkit or Keras)."""
    inner_in = k.layers.Input(shape=(8, 8, 2))
    inner = k.models.Model(inner_in, k.layers.Conv2D(2, 3, padding="same", name="ic")(inner_in), name="inner")
    inputs = k.layers.Input(shape=(8, 8, 2))
    x = k.layers.Conv2D(4, 3, padding="same", name="conv")(inner(inputs))
    x = k.layers.BatchNormalization(name="bn")(x)
    y = k.layers.Conv2D(4, 1, name="side")(inputs)
    x = k.layers.Dropout(0.2, name="drop")(k.layers.Add(name="add")([x, y]))
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = k.layers.Dense(3, activation="softmax", name="head")(x)
    model = k.models.Model(inputs, outputs, name="conv_model")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _weights(model):
    return [w.detach().clone() for w in model.weights]


def _unchanged(model, before):
    return all(bool((a == b).all()) for a, b in zip(before, model.weights))


@pytest.fixture
def peak_memory():
    """Yields a function giving the peak traced allocation (bytes) since the last `tracemalloc.reset_peak()`
    (call it once the hostile file is written)."""
    tracemalloc.start()
    yield lambda: tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()


def _repack(path):
    """Copies an HDF5 file into a fresh one (HDF5 does not give back the space of deleted datasets)."""
    with h5py.File(path, "r") as src, h5py.File(path + ".new", "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name)
    os.replace(path + ".new", path)


def _replace_dataset(f, name, **create):
    data_attrs = dict(f[name].attrs)
    del f[name]
    dset = f.create_dataset(name, **create)
    for key, value in data_attrs.items():
        dset.attrs[key] = value
    return dset


def _rewrite_keras(path, edit):
    """Applies `edit(h5py.File)` to the model.weights.h5 inside the .keras archive at `path`."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        edit(f)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# ---- HDF5: external storage, virtual datasets, links to other files -----------------------------------------

KERNEL = {"weights.h5": "layers/dense/vars/0", "h5": "dense/dense/kernel", "keras": "layers/dense/vars/0"}


def _saved(tmp_path, kind, model=None):
    model = model or _small()
    path = str(tmp_path / f"m.{kind}")
    if kind == "keras":
        model.save(path)
    else:
        model.save_weights(path)
    return model, path


def _edit(path, kind, edit):
    if kind == "keras":
        _rewrite_keras(path, edit)
    else:
        with h5py.File(path, "r+") as f:
            edit(f)


@pytest.mark.parametrize("kind", ["weights.h5", "h5", "keras"])
def test_external_dataset_pointing_at_a_local_file_is_refused(tmp_path, kind):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 2)  # 64 bytes: the (4, 3) float32 kernel's size
    _, path = _saved(tmp_path, kind)
    _edit(path, kind, lambda f: _replace_dataset(f, KERNEL[kind], shape=(4, 3), dtype="f4",
                                                 external=[(str(secret), 0, 48)]))
    target = _small()
    before = _weights(target)
    with pytest.raises(ValueError, match="external file") as info:
        target.load_weights(path)
    assert path in str(info.value) and KERNEL[kind] in str(info.value) and "secret.txt" in str(info.value)
    assert _unchanged(target, before)


@pytest.mark.parametrize("kind", ["weights.h5", "h5"])
def test_virtual_dataset_and_external_link_are_refused(tmp_path, kind):
    other = str(tmp_path / "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = np.ones((4, 3), "f4")
    _, path = _saved(tmp_path, kind)

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource(other, "x", shape=(4, 3))
        del f[KERNEL[kind]]
        f.create_virtual_dataset(KERNEL[kind], layout)

    _edit(path, kind, virtual)
    with pytest.raises(ValueError, match="virtual dataset") as info:
        _small().load_weights(path)
    assert KERNEL[kind] in str(info.value)

    def link(f):
        del f[KERNEL[kind]]
        f[KERNEL[kind]] = h5py.ExternalLink(other, "x")

    _edit(path, kind, link)
    with pytest.raises(ValueError, match="link to another file"):
        _small().load_weights(path)


def test_non_numeric_dataset_is_refused(tmp_path):
    _, path = _saved(tmp_path, "weights.h5")
    _edit(path, "weights.h5", lambda f: _replace_dataset(f, KERNEL["weights.h5"],
                                                         data=np.array([[b"ab"] * 3] * 4, dtype="S2")))
    with pytest.raises(ValueError, match="weights are numbers"):
        _small().load_weights(path)


_DAMAGED_STRUCTURES = {
    "h5": [lambda f: f.attrs.__setitem__("layer_names", 5),
           lambda f: f["dense"].attrs.__setitem__("weight_names", np.array([1.5, 2.5])),
           lambda f: f.attrs.__setitem__("layer_names", np.array([b"/"])),
           lambda f: (f["dense"].__delitem__("dense/kernel"), f["dense"].create_group("dense/kernel"))],
    "weights.h5": [lambda f: (f["layers/dense"].__delitem__("vars"), f["layers/dense"].create_dataset("vars", data=1)),
                   lambda f: (f.__delitem__("layers"), f.create_dataset("layers", data=1)),
                   lambda f: f["layers"].__setitem__("extra", f["/"])],  # the root linked under itself
}


@pytest.mark.parametrize("kind, case", [(k, i) for k, cases in _DAMAGED_STRUCTURES.items() for i in range(len(cases))])
def test_damaged_hdf5_structures_give_value_errors_naming_the_file(tmp_path, kind, case):
    _, path = _saved(tmp_path, kind)
    _edit(path, kind, _DAMAGED_STRUCTURES[kind][case])
    try:
        _small().load_weights(path)
    except ValueError as err:
        assert path in str(err)


# ---- HDF5: declared sizes far beyond what the file stores ----------------------------------------------------


@pytest.mark.parametrize("kind", ["weights.h5", "h5", "keras"])
def test_huge_declared_dataset_in_a_tiny_file_is_refused_before_allocation(tmp_path, kind, peak_memory):
    _, path = _saved(tmp_path, kind)
    _edit(path, kind, lambda f: _replace_dataset(f, KERNEL[kind], shape=(60000, 60000), dtype="f4"))
    assert os.path.getsize(path) < 100_000  # 13.4 GiB declared
    tracemalloc.reset_peak()
    target = _small()
    with pytest.raises(ValueError, match=r"\(60000, 60000\)"):
        target.load_weights(path)
    assert peak_memory() < 20 << 20


def test_declared_size_far_beyond_the_stored_bytes_is_refused_even_when_the_shape_fits(tmp_path, peak_memory):
    model, path = _saved(tmp_path, "weights.h5", _small(units=1500, input_dim=1500))  # a 9 MB kernel
    _edit(path, "weights.h5", lambda f: _replace_dataset(f, KERNEL["weights.h5"], shape=(1500, 1500), dtype="f4"))
    _repack(path)
    assert os.path.getsize(path) < 100_000
    tracemalloc.reset_peak()
    with pytest.raises(ValueError, match="stores only 0 bytes"):
        model.load_weights(path)


def test_compressed_datasets_of_plausible_size_still_load(tmp_path):
    """gzip (even of all-zero weights, deflate's best case) and lzf chunked datasets, as h5py users write."""
    source = _small(units=300, input_dim=200)
    path = str(tmp_path / "c.weights.h5")
    source.save_weights(path)
    kernel = np.zeros((200, 300), "f4")
    bias = source.get_weights()[1]
    with h5py.File(path, "r+") as f:
        _replace_dataset(f, "layers/dense/vars/0", data=kernel, chunks=(50, 300), compression="gzip",
                         compression_opts=9, shuffle=True)
        _replace_dataset(f, "layers/dense/vars/1", data=bias, chunks=(300,), compression="lzf")
    target = _small(units=300, input_dim=200)
    target.load_weights(path)
    np.testing.assert_array_equal(target.get_weights()[0], kernel)
    np.testing.assert_array_equal(target.get_weights()[1], bias)


def test_huge_optimizer_state_dataset_is_refused(tmp_path, peak_memory):
    model = _small()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 4), "f4"), np.zeros((4, 3), "f4"), epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    _rewrite_keras(path, lambda f: _replace_dataset(f, "optimizer/vars/2", shape=(60000, 60000), dtype="f4",
                                                    chunks=(1000, 1000), compression="gzip"))
    with pytest.raises(ValueError, match="optimizer/vars/2"):
        load_model(path)
    assert peak_memory() < 20 << 20


# ---- .keras archives: zip bombs and member names -----------------------------------------------------------


def _patch_declared_size(path, member, size):
    """Rewrites the uncompressed size of `member` in the zip's central directory and local header."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local header: uncompressed size
    start = data.find(b"PK\x01\x02")
    while start != -1:
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + name_len].decode() == member:
            struct.pack_into("<I", data, start + 24, size)
        start = data.find(b"PK\x01\x02", start + 4)
    open(path, "wb").write(bytes(data))


def _archive(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _members(model, tmp_path):
    saved = str(tmp_path / "real.keras")
    model.save(saved)
    with zipfile.ZipFile(saved) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_member_declaring_a_huge_size_is_refused_before_inflating(tmp_path, peak_memory):
    members = _members(_small(), tmp_path)
    path = str(tmp_path / "bomb.keras")
    _archive(path, {**members, "model.weights.h5": bytes(40 << 20)})  # honest: 40 MB of zeros, ~40 KB stored
    assert os.path.getsize(path) < 200_000
    tracemalloc.reset_peak()
    for load in (load_model, _small().load_weights):
        with pytest.raises(ValueError, match="model.weights.h5' declares 41,943,040 bytes"):
            load(path)
    assert peak_memory() < 20 << 20


def test_member_whose_header_lies_about_its_size_cannot_inflate(tmp_path, peak_memory):
    members = _members(_small(), tmp_path)
    path = str(tmp_path / "liar.keras")
    _archive(path, {**members, "model.weights.h5": bytes(48 << 20)})  # 48 MB of zeros, ~48 KB stored
    _patch_declared_size(path, "model.weights.h5", 10_000)
    tracemalloc.reset_peak()
    with pytest.raises(ValueError, match=r"liar\.keras"):
        load_model(path)
    assert peak_memory() < 20 << 20


def test_total_declared_size_and_config_size_are_limited(tmp_path, peak_memory):
    members = _members(_small(), tmp_path)
    path = str(tmp_path / "assets.keras")
    _archive(path, {**members, "assets/a": b"x", "assets/b": b"y"})
    _patch_declared_size(path, "assets/a", 2**31)
    _patch_declared_size(path, "assets/b", 2**31)
    with pytest.raises(ValueError, match=r"declares 4,294,9\d\d,\d\d\d bytes of content"):
        load_model(path)
    _archive(path, members)
    _patch_declared_size(path, "config.json", 2**32 - 1)
    with pytest.raises(ValueError, match="'config.json' declares"):
        load_model(path)
    assert peak_memory() < 20 << 20


@pytest.mark.parametrize("name", ["../evil.h5", "/etc/evil", "assets\\..\\evil", "assets/../../evil", "C:evil"])
def test_path_like_member_names_are_refused(tmp_path, name):
    members = _members(_small(), tmp_path)
    path = str(tmp_path / "paths.keras")
    _archive(path, {**members, name: b"x"})
    with pytest.raises(ValueError, match="path-like name") as info:
        load_model(path)
    assert repr(name) in str(info.value)


def test_unexpected_members_are_ignored_with_a_warning_and_duplicates_refused(tmp_path):
    source = _small()
    members = _members(source, tmp_path)
    path = str(tmp_path / "extra.keras")
    _archive(path, {**members, "evil.py": b"import os", "assets/vocab.txt": b"a\nb"})
    with pytest.warns(UserWarning, match="evil.py"):
        model = load_model(path)
    np.testing.assert_array_equal(model.get_weights()[0], source.get_weights()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("config.json", members["config.json"])
    with pytest.raises(ValueError, match="'config.json' twice"):
        load_model(path)


# ---- malformed configs --------------------------------------------------------------------------------------


def _config_archive(path, members, config):
    _archive(path, {**members, "config.json": config if isinstance(config, (str, bytes)) else json.dumps(config)})


def _paths(value, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _mutated(config, path, mutation):
    config = json.loads(json.dumps(config))
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    if mutation == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = mutation
    return config


_REPLACEMENTS = ["x", -1, 0, 2.5, None, [], {}, True, [1, "a"], {"class_name": "Nope"}, 1e308, [[[]]]]


@pytest.mark.parametrize("writer", ["cnnkit", "keras"])
def test_config_fuzz_only_raises_value_errors_naming_the_file(keras, tmp_path, writer):
    """1 to 3 mutations (a value of another type, a deleted key) anywhere in a real saved config, compile config
    included (run with 4,000 cases while writing this: only ValueErrors)."""
    if writer == "keras":
        saved = str(tmp_path / "real.keras")
        _conv_model(keras).save(saved)
        with zipfile.ZipFile(saved) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    else:
        members = _members(_conv_model(), tmp_path)
    config = json.loads(members["config.json"])
    rng = random.Random(0)
    path = str(tmp_path / "fuzz.keras")
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(100):
        mutated, changes = config, []
        for _ in range(rng.choice([1, 1, 2, 3])):
            field = rng.choice([p for p, _ in _paths(mutated) if p])
            changes.append((field, "delete" if rng.random() < 0.2 else rng.choice(_REPLACEMENTS)))
            mutated = _mutated(mutated, *changes[-1])
        _config_archive(path, members, mutated)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_model(path)
            outcomes["loaded"] += 1
        except ValueError as err:
            assert path in str(err), (changes, err)
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"{changes}: {type(err).__name__}: {err}")
    assert outcomes["refused"] > 40 and outcomes["loaded"] > 10, outcomes


def test_config_errors_name_the_field(tmp_path):
    members = _members(_conv_model(), tmp_path)
    config = json.loads(members["config.json"])
    path = str(tmp_path / "bad.keras")
    layers = config["config"]["layers"]
    conv = next(i for i, spec in enumerate(layers) if spec["class_name"] == "Conv2D")
    cases = [
        (("config", "layers", conv, "config", "filters"), "x", f"config.layers[{conv}].config.filters"),
        (("config", "layers", conv, "config", "use_bias"), "x",
         f"config.layers[{conv}].config.use_bias: Conv2D: use_bias must be a bool"),
        (("config", "layers", 1, "config", "layers", 1, "config", "kernel_size"), [3, "a"],
         "config.layers[1].config.layers[1].config.kernel_size"),
        (("config", "layers", conv, "class_name"), "Conv2d", "Did you mean 'Conv2D'"),
        (("config", "layers", conv, "class_name"), 5, f"config.layers[{conv}].class_name must be a string"),
        (("config", "layers"), "x", "config.layers must be a list"),
        (("config", "layers", conv, "config"), "delete", f"config.layers[{conv}]"),
        (("config", "layers", conv, "name"), "delete", f"config.layers[{conv}].name is missing"),
    ]
    for field, mutation, expected in cases:
        _config_archive(path, members, _mutated(config, field, mutation))
        with pytest.raises(ValueError) as info:
            load_model(path)
        assert str(info.value).startswith(f"load_model: {path}: ") and expected in str(info.value), info.value


@pytest.mark.parametrize("depth", [500, 10_000])
def test_deeply_nested_configs_are_refused(tmp_path, depth):
    members = _members(_small(), tmp_path)
    config = json.loads(members["config.json"])
    nested = "[" * depth + "]" * depth
    text = json.dumps(config).replace('"name": "small"', f'"name": "small", "deep": {nested}', 1)
    path = str(tmp_path / "deep.keras")
    _config_archive(path, members, text)
    with pytest.raises(ValueError, match="nested"):
        load_model(path)


def test_malformed_legacy_h5_config_names_the_file(tmp_path):
    path = str(tmp_path / "m.h5")
    _small().save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][1]["config"]["units"] = "many"
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ValueError, match=r"m\.h5: config\.layers\[1\]\.config\.units"):
        load_model(path)


# ---- NaN and Inf weights -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["weights.h5", "keras"])
def test_nan_weights_load_with_a_warning_naming_the_layer(keras, tmp_path, kind):
    source = _small()
    weights = source.get_weights()
    weights[0][0, 0] = np.nan
    weights[1][1] = np.inf
    source.set_weights(weights)
    _, path = _saved(tmp_path, kind, source)
    target = _small()
    with pytest.warns(UserWarning, match="weight 'kernel' of layer 'dense'") as record:
        target.load_weights(path)
    assert any("weight 'bias' of layer 'dense'" in str(w.message) for w in record)
    oracle = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    oracle.load_weights(path)
    for ours, theirs in zip(target.get_weights(), oracle.get_weights()):
        np.testing.assert_array_equal(ours, theirs)  # Keras loads them as they are too


# ---- configs declaring huge layers ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_config_declaring_more_weights_than_the_file_holds_is_refused_before_allocation(tmp_path, suffix,
                                                                                        peak_memory):
    path = str(tmp_path / f"m.{suffix}")
    _small().save(path)
    if suffix == "keras":
        members = _members(_small(), tmp_path)
        config = json.loads(members["config.json"])
        config["config"]["layers"][1]["config"]["units"] = 10**9  # a 16 GB kernel in a ~20 KB file
        _config_archive(path, members, config)
    else:
        with h5py.File(path, "r+") as f:
            config = json.loads(f.attrs["model_config"])
            config["config"]["layers"][1]["config"]["units"] = 10**9
            f.attrs["model_config"] = json.dumps(config)
    tracemalloc.reset_peak()
    with pytest.raises(ValueError, match=r"config\.layers\[1\].*weight 'kernel' of shape \(4, 1000000000\)"):
        load_model(path)
    assert peak_memory() < 20 << 20
