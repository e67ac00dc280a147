"""cnnkit.data.Dataset (the tf.data methods of image_dataset_from_directory's dataset) against tf.data itself: the
same pipeline on the same folder gives the same cardinalities, element counts and shapes, and (no randomness, files
read at their own size so that no resampling differs) the same values."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from cnnkit import data as cdata
from cnnkit.data import Dataset
from cnnkit.utils import image_dataset_from_directory
from cnnkit.utils import set_random_seed

SIZE = (6, 5)
COUNTS = {"ant": 4, "bee": 3, "cow": 4}  # 11 files: batches of 4 -> 4, 4, 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline") / "tree"
    rng = np.random.default_rng(0)
    for name, count in COUNTS.items():
        os.makedirs(root / name)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, SIZE + (3,), dtype=np.uint8)).save(root / name / f"i{i}.png")
    return str(root)


def ours(folder, **kwargs):
    kw = dict(image_size=SIZE, batch_size=4, shuffle=False, verbose=False, workers=1)
    return image_dataset_from_directory(folder, **dict(kw, **kwargs))


def theirs(keras, folder, **kwargs):
    kw = dict(image_size=SIZE, batch_size=4, shuffle=False, verbose=False)
    return keras.utils.image_dataset_from_directory(folder, **dict(kw, **kwargs))


def leaves(element):
    if isinstance(element, (tuple, list)):
        return [leaf for part in element for leaf in leaves(part)]
    return [np.asarray(element)]


# Pipelines without randomness, written once for both (the methods have tf.data's names and meaning).
PIPELINES = {
    "plain": lambda ds: ds,
    "take": lambda ds: ds.take(2),
    "take_all": lambda ds: ds.take(-1),
    "take_more": lambda ds: ds.take(10),
    "skip": lambda ds: ds.skip(1),
    "skip_all": lambda ds: ds.skip(-1),
    "map": lambda ds: ds.map(lambda x, y: (x / 255.0, y + 1)),
    "map_single": lambda ds: ds.map(lambda x, y: x * 2.0),
    "cache_prefetch": lambda ds: ds.cache().prefetch(2),
    "unbatch": lambda ds: ds.unbatch(),
    "rebatch": lambda ds: ds.unbatch().batch(3),
    "rebatch_drop": lambda ds: ds.unbatch().batch(3, drop_remainder=True),
    "repeat": lambda ds: ds.repeat(2),
    "repeat_forever_take": lambda ds: ds.repeat().take(5),
    "filter": lambda ds: ds.filter(lambda x, y: y[0] == 0),
    "filter_take": lambda ds: ds.unbatch().filter(lambda x, y: y > 0).take(3),
    "skip_repeat_batch": lambda ds: ds.unbatch().skip(1).repeat(3).batch(5),
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_equals_tf_data(keras, folder, name):
    build = PIPELINES[name]
    mine, tf_ds = build(ours(folder)), build(theirs(keras, folder))
    assert int(mine.cardinality()) == int(tf_ds.cardinality().numpy())
    got, expected = list(mine.as_numpy_iterator()), list(tf_ds.as_numpy_iterator())
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray))
        for x, y in zip(leaves(a), leaves(b)):
            assert x.shape == y.shape and x.dtype == y.dtype
            np.testing.assert_allclose(x, y, rtol=1e-6)
    if int(mine.cardinality()) >= 0:
        assert len(mine) == len(tf_ds)


def test_unbatched_source_and_categorical_labels_equal_tf(keras, folder):
    build = lambda ds: ds.batch(5)  # noqa: E731
    kw = dict(batch_size=None, label_mode="categorical")
    mine, tf_ds = build(ours(folder, **kw)), build(theirs(keras, folder, **kw))
    assert int(mine.cardinality()) == int(tf_ds.cardinality().numpy()) == 3
    for (x, y), (kx, ky) in zip(mine.as_numpy_iterator(), tf_ds.as_numpy_iterator(), strict=True):
        np.testing.assert_array_equal(x, kx)
        np.testing.assert_array_equal(y, ky)


def test_infinite_and_unknown_lengths_as_tf(keras, folder):
    mine, tf_ds = ours(folder), theirs(keras, folder)
    for build in (lambda ds: ds.repeat(), lambda ds: ds.filter(lambda x, y: True)):
        with pytest.raises(TypeError) as ours_error:
            len(build(mine))
        with pytest.raises(TypeError) as tf_error:
            len(build(tf_ds))
        assert str(ours_error.value) == str(tf_error.value)
    assert int(mine.repeat().cardinality()) == cdata.INFINITE_CARDINALITY == cdata.experimental.INFINITE_CARDINALITY
    assert int(mine.unbatch().cardinality()) == cdata.UNKNOWN_CARDINALITY
    assert int(cdata.experimental.cardinality(mine)) == 3
    assert cdata.AUTOTUNE == cdata.experimental.AUTOTUNE == -1
    assert mine.cardinality().numpy() == 3  # a 0-d array with tf's .numpy(), usable in arithmetic
    assert len(mine.take(mine.cardinality() // 2)) == 1


# ---- laziness, passes, randomness --------------------------------------------------------------------------------
def test_map_is_lazy_per_batch_and_rerun_each_pass_unless_cached(folder):
    calls = []

    def fn(x, y):
        calls.append(x.shape[0])
        return x, y

    ds = ours(folder).map(fn)
    assert calls == []  # nothing runs before iterating
    assert len(list(ds)) == 3 and calls == [4, 4, 3]  # once per batch, with the batch as (x, y)
    list(ds)
    assert len(calls) == 6  # a new pass runs the function again
    cached = ds.cache()
    first, second = list(cached), list(cached)
    assert len(calls) == 9  # the second pass replays the cache
    for (a, _), (b, _) in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_partial_pass_caches_nothing(folder):
    calls = []
    cached = ours(folder).map(lambda x, y: calls.append(1) or (x, y)).cache()
    list(cached.take(1))
    assert len(list(cached)) == 3 and len(calls) == 4
    list(cached)
    assert len(calls) == 4


def test_elements_are_numpy_with_tf_numpy_method(folder):
    x, y = next(iter(ours(folder).take(1)))
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (4, *SIZE, 3)
    assert type(x[0].numpy()) is np.ndarray and float(np.min(x)) >= 0.0
    assert ["ant", "bee", "cow"][y[3]] == "ant"  # labels index Python lists, as tf's int tensors do
    mapped, _ = next(iter(ours(folder).map(lambda x, y: (cdata.pipeline.as_element(x) + 1, y))))
    assert isinstance(mapped, np.ndarray)


def test_map_turns_torch_results_into_arrays(folder):
    import torch  # noqa: PLC0415

    ds = ours(folder).map(lambda x, y: (torch.as_tensor(np.asarray(x)) / 255.0, y))
    x, _ = next(iter(ds))
    assert isinstance(x, np.ndarray) and float(np.max(x)) <= 1.0


def test_dict_elements_are_passed_as_one_argument():
    ds = Dataset.from_tensor_slices({"images": np.zeros((5, 2)), "labels": np.arange(5)}).batch(2)
    out = list(ds.map(lambda d: (d["images"], d["labels"])))
    assert [y.tolist() for _, y in out] == [[0, 1], [2, 3], [4]]


def test_shuffle_permutes_reshuffles_and_seeds(folder):
    ds = ours(folder, batch_size=None).map(lambda x, y: y)
    plain = [int(v) for v in ds]
    shuffled = ds.shuffle(11, seed=3)
    first, second = [int(v) for v in shuffled], [int(v) for v in shuffled]
    assert sorted(first) == sorted(plain) == sorted(second)
    assert first != plain and first != second  # a new order each pass
    assert [int(v) for v in ds.shuffle(11, seed=3)] == first  # the seed repeats the orders
    fixed = ds.shuffle(11, seed=3, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]
    set_random_seed(5)
    unseeded = [int(v) for v in ds.shuffle(4)]
    set_random_seed(5)
    assert [int(v) for v in ds.shuffle(4)] == unseeded  # unseeded shuffles follow cnnkit's global seed


def test_small_buffer_shuffle_keeps_elements_near(folder):
    order = [int(v) for v in Dataset.from_tensor_slices(np.arange(50)).shuffle(2, seed=0)]
    assert sorted(order) == list(range(50))
    assert all(order[i] <= i + 1 for i in range(50))  # tf.data's buffer: element i is out by step i at the latest


def test_shuffled_source_reshuffles_after_a_partial_pass(folder):
    ds = ours(folder, shuffle=True, seed=1, batch_size=None)
    first = [int(y) for _, y in ds.take(11)]
    assert [int(y) for _, y in ds.take(11)] != first


def test_prefetch_produces_on_a_background_thread(folder):
    threads = []
    ds = ours(folder).map(lambda x, y: threads.append(threading.current_thread().name) or (x, y)).prefetch(
        cdata.AUTOTUNE)
    assert len(list(ds)) == 3
    assert threads and all(name == "cnnkit-prefetch" for name in threads)
    iterator = iter(ds)
    next(iterator)
    iterator.close()  # stopping early stops the thread
    assert not any(t.name == "cnnkit-prefetch" and t.is_alive() for t in threading.enumerate())


def test_prefetch_raises_producer_errors(folder):
    def bad(x, y):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(ours(folder).map(bad).prefetch(1))


def test_class_names_kept_except_after_map(folder):
    ds = ours(folder)
    assert ds.shuffle(3).cache().prefetch(1).take(2).class_names == ["ant", "bee", "cow"]
    assert not hasattr(ds.map(lambda x, y: (x, y)), "class_names")  # as tf.data (which drops it everywhere)
    assert ds.file_paths[0].endswith(os.path.join("ant", "i0.png"))


@pytest.mark.parametrize("call, message", [
    (lambda ds: ds.take(-2), "take: count"),
    (lambda ds: ds.take(1.5), "take: count"),
    (lambda ds: ds.batch(0), "batch: batch_size"),
    (lambda ds: ds.shuffle(0), "shuffle: buffer_size"),
    (lambda ds: ds.map("x"), "map: map_func"),
    (lambda ds: ds.cache("file"), "cache: cnnkit caches in memory only"),
    (lambda ds: ds.prefetch(-3), "prefetch: buffer_size"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(Dataset.from_tensor_slices(np.arange(4)))


def test_from_tensor_slices_equals_tf(keras):
    import tensorflow as tf  # noqa: PLC0415

    x, y = np.arange(14.0).reshape(7, 2), np.arange(7)
    build = lambda ds: ds.batch(3).unbatch().skip(2).batch(2, drop_remainder=True)  # noqa: E731
    mine, tf_ds = build(Dataset.from_tensor_slices((x, y))), build(tf.data.Dataset.from_tensor_slices((x, y)))
    for a, b in zip(mine.as_numpy_iterator(), tf_ds.as_numpy_iterator(), strict=True):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
