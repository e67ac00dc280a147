"""model.summary(): the printed rows (name (type), output shape, params, connections) and totals equal Keras's.

Both tables are printed wide (COLUMNS=250 and a line_length of 200) so that no cell is wrapped or cropped, then
parsed into rows; the comparison is on content, not on column widths.
"""

import numpy as np
import pytest

import cnnkit
from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten

pytestmark = [pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),
              pytest.mark.usefixtures("wide_terminal")]

WIDE = 200


def compare(zoo, mine, theirs, **kwargs):
    got = zoo.parse_summary(zoo.summary_text(mine, line_length=WIDE, **kwargs))
    want = zoo.parse_summary(zoo.summary_text(theirs, line_length=WIDE, **kwargs))
    assert got[0] == want[0]  # model name
    assert got[1] == want[1]  # rows
    assert got[2] == want[2]  # totals
    return got


def test_sequential_summary_matches_keras(fresh_keras, zoo):
    name, rows, totals = compare(zoo, zoo.mnist_convnet(cnnkit), zoo.mnist_convnet(fresh_keras))
    assert name == "sequential"
    assert rows[0] == ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320"]
    assert [row[2] for row in rows] == ["320", "0", "18,496", "0", "36,928", "0", "36,928", "650"]
    assert totals == {"Total": 93322, "Trainable": 93322, "Non-trainable": 0}


def test_seed_002_summary_before_the_classifier(fresh_keras, zoo):
    name, rows, totals = compare(zoo, zoo.mnist_convnet(cnnkit, classifier=False),
                                 zoo.mnist_convnet(fresh_keras, classifier=False))
    assert [row[1] for row in rows] == ["(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)",
                                        "(None, 5, 5, 64)", "(None, 3, 3, 64)"]
    assert totals["Total"] == 55744


def test_lenet_summary_matches_keras(fresh_keras, zoo):
    compare(zoo, zoo.lenet(cnnkit), zoo.lenet(fresh_keras))


def test_functional_summary_matches_keras(fresh_keras, zoo):
    name, rows, totals = compare(zoo, zoo.branchy(cnnkit), zoo.branchy(fresh_keras))
    assert len(rows[0]) == 4  # a "Connected to" column
    by_name = {row[0].split(" ")[0]: row for row in rows}
    assert by_name["add"][3] == "shortcut_conv[0][0], main_conv2[0][0]"
    assert by_name["image"][3] == "-"
    assert totals["Non-trainable"] == 2 * 8 + 2 * 32


def test_cifar_summary_matches_keras(fresh_keras, zoo):
    name, rows, totals = compare(zoo, zoo.cifar_functional(cnnkit), zoo.cifar_functional(fresh_keras))
    assert len(rows) == 9 and rows[0] == ["input_layer (InputLayer)", "(None, 32, 32, 3)", "0"]
    assert totals["Total"] == 122570


def test_feature_map_model_summary_matches_keras(fresh_keras, zoo):
    def short(k):
        model = zoo.cifar_functional(k)
        return k.models.Model(inputs=model.inputs, outputs=[model.layers[i].output for i in (1, 3, 5)])

    name, rows, totals = compare(zoo, short(cnnkit), short(fresh_keras))
    assert len(rows[0]) == 3  # a chain with several outputs still prints as sequential-like, as in Keras
    assert totals["Total"] == 896 + 18496 + 36928


def test_nested_frozen_summary_matches_keras(fresh_keras, zoo):
    def build(k):
        inputs = k.layers.Input(shape=(16, 16, 3))
        x = k.layers.Conv2D(4, 3)(inputs)
        x = k.layers.BatchNormalization()(x)
        backbone = k.models.Model(inputs, x, name="backbone")
        backbone.trainable = False
        return k.models.Sequential([backbone, k.layers.GlobalAveragePooling2D(),
                                    k.layers.Dense(12, activation="softmax")])

    name, rows, totals = compare(zoo, build(cnnkit), build(fresh_keras))
    assert rows[0] == ["backbone (Functional)", "(None, 14, 14, 4)", "128"]
    assert totals == {"Total": 128 + 60, "Trainable": 60, "Non-trainable": 128}
    compare(zoo, build(cnnkit), build(fresh_keras), show_trainable=True)


def test_show_trainable_matches_keras(fresh_keras, zoo):
    def build(k):
        model = zoo.branchy(k)
        model.get_layer("main_conv").trainable = False
        return model

    name, rows, totals = compare(zoo, build(cnnkit), build(fresh_keras), show_trainable=True)
    by_name = {row[0].split(" ")[0]: row for row in rows}
    assert by_name["main_conv"][-1] == "N" and by_name["probs"][-1] == "Y" and by_name["add"][-1] == "-"


def test_several_inputs_summary_matches_keras(fresh_keras, zoo):
    def build(k):
        a, b = k.layers.Input(shape=(4,)), k.layers.Input(shape=(6,))
        joined = k.layers.Concatenate()([k.layers.Dense(3)(a), b])
        return k.models.Model([a, b], k.layers.Dense(2)(joined))

    name, rows, totals = compare(zoo, build(cnnkit), build(fresh_keras))
    assert rows[-2][3] == "dense[0][0], input_layer_1[0][0]"


def test_summary_default_print_and_line_length(capsys):
    model = Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
    model.summary()
    out = capsys.readouterr().out
    assert out.startswith('Model: "sequential"')
    assert "conv2d (Conv2D)" in out and "Total params: 475" in out
    lines = []
    model.summary(print_fn=lines.append, line_length=60)
    table = [line for line in lines if line[:1] in "┏┃┡│├└"]
    assert table and all(len(line) == 60 for line in table)


def test_summary_of_unbuilt_model_matches_keras(fresh_keras, zoo):
    def build(k):
        return k.models.Sequential([k.layers.Dense(3), k.layers.Dense(2)])

    name, rows, totals = compare(zoo, build(cnnkit), build(fresh_keras))
    assert rows == [["dense (Dense)", "?", "0 (unbuilt)"], ["dense_1 (Dense)", "?", "0 (unbuilt)"]]
    model = build(cnnkit)
    model.predict(np.zeros((1, 5)))
    assert zoo.parse_summary(zoo.summary_text(model))[2]["Total"] == 5 * 3 + 3 + 3 * 2 + 2


def test_summary_of_functional_model_with_one_output(zoo):
    inputs = Input(shape=(5,))
    model = Model(inputs, Dense(2)(inputs), name="tiny")
    name, rows, totals = zoo.parse_summary(zoo.summary_text(model, line_length=WIDE))
    assert name == "tiny"
    assert rows == [["input_layer (InputLayer)", "(None, 5)", "0"], ["dense (Dense)", "(None, 2)", "12"]]


@pytest.mark.parametrize("builder", ["mnist_convnet", "branchy", "cifar_functional"])
def test_summary_text_identical_to_keras_for_each_print_option(fresh_keras, zoo, builder):
    """Beyond the rows: the whole table, widths, wrapping and cropping included, is the one Keras prints, with the
    default width, line_length 70 and 120, and show_trainable (one pair of models checked with every option)."""
    theirs = getattr(zoo, builder)(fresh_keras)
    cnnkit.utils.clear_session()
    mine = getattr(zoo, builder)(cnnkit)

    def text(model, options):
        return "\n".join(line.rstrip() for line in zoo.summary_text(model, **options).strip("\n").splitlines())

    for options in ({}, {"line_length": 70}, {"show_trainable": True}, {"line_length": 120}):
        assert text(mine, options) == text(theirs, options), options
