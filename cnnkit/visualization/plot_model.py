"""`plot_model`: Keras's `keras.utils.plot_model`, drawn with matplotlib alone (no Graphviz, no pydot).

The layout is a simplified form of Graphviz's `dot` (Sugiyama): longest-path ranks from the inputs; an invisible
waypoint in each rank that an edge skips, so that it runs beside the boxes; barycentre sweeps that order each rank
for few edge crossings; then positions across the ranks, each node pulled to the weighted median of its neighbours
with the order and spacing of its rank kept (an isotonic regression). All sizes are in points: the figure grows
with the graph, so the text keeps its size however large the model.
"""

import bisect
import inspect
import itertools
import os
import warnings

import numpy as np

from cnnkit import activations
from cnnkit.layers.base import Layer
from cnnkit.layers.input_layer import InputLayer
from cnnkit.models.functional import Functional
from cnnkit.models.sequential import Sequential
from cnnkit.models.summary import class_name
from cnnkit.models.summary import shape_text
from cnnkit.registry import check_kwargs
from cnnkit.visualization import _mpl

FORMATS = ("png", "svg", "pdf")
RANKDIRS = ("TB", "LR", "BT", "RL")
NAME_SIZE, DETAIL_SIZE, LINE = 10.0, 9.0, 1.35  # font sizes (points) and line pitch (in font sizes)
PAD_X, PAD_Y, MARGIN = 8.0, 5.0, 12.0
NODE_GAP, EDGE_GAP, RANK_GAP, CLUSTER_PAD = 22.0, 10.0, 32.0, 10.0
MAX_PIXELS = 2 ** 16 - 1  # the most pixels a side of a PNG that Agg draws
COLORS = (("InputLayer", "#e6e6e6"), ("Functional", "#d0e0e3"), ("Sequential", "#d0e0e3"), ("Conv", "#cfe2f3"),
          ("Pool", "#d9ead3"), ("Normalization", "#fff2cc"), ("Dense", "#fce5cd"), ("Add", "#e4d5ef"),
          ("Concatenate", "#e4d5ef"), ("Multiply", "#e4d5ef"), ("Activation", "#f4cccc"))


class _Node:
    """A box (one layer), or an invisible waypoint of a long edge (no lines), with its layout state."""

    def __init__(self, lines=(), clusters=(), width=0.0, height=0.0, color="#f3f3f3"):
        self.lines, self.clusters, self.color, self.width, self.height = lines, tuple(clusters), color, width, height
        self.dummy, self.preds, self.succs, self.rank, self.x = not lines, [], [], 0, 0.0


def _shapes(node, outputs):
    tensors = [] if node is None else node.outputs if outputs else node.inputs
    if not tensors:
        return "?"
    listed = node.output_is_list if outputs else node.input_is_list
    return shape_text([t.shape for t in tensors] if listed else tensors[0].shape)


def _box(layer, in_graph, options, clusters):
    """The box of a layer: its lines (text, font size, bold), sized to fit them."""
    from matplotlib.font_manager import FontProperties  # noqa: PLC0415 (matplotlib is imported on demand)
    from matplotlib.textpath import text_to_path  # noqa: PLC0415

    node = next((n for n in layer.inbound_nodes if n.id in in_graph), None)
    cls = class_name(layer)
    details = []
    if options["show_layer_activations"] and getattr(layer, "activation", None) is not None:
        fn = layer.activation
        details.append(f"Activation: {activations.ACTIVATIONS.name_of(fn) or getattr(fn, '__name__', fn)}")
    if options["show_shapes"]:
        if not isinstance(layer, InputLayer):
            details.append(f"Input shape: {_shapes(node, False)}")
        details.append(f"Output shape: {_shapes(node, True)}")
    if options["show_dtype"]:
        details.append(f"Output dtype: {node.outputs[0].dtype if node is not None and node.outputs else '?'}")
    if options["show_trainable"] and layer.weights:
        details.append(f"Trainable: {'Y' if layer.trainable else 'N'}")
    lines = [(f"{layer.name} ({cls})" if options["show_layer_names"] else cls, NAME_SIZE, True)]
    lines += [(text, DETAIL_SIZE, False) for text in details]
    width = max(text_to_path.get_text_width_height_descent(
        text, FontProperties(size=size, weight="bold" if bold else "normal"), ismath=False)[0]
        for text, size, bold in lines)
    color = next((c for part, c in COLORS if part in cls), "#f3f3f3")
    return _Node(lines, clusters, width + 2 * PAD_X, sum(s * LINE for _, s, _ in lines) + 2 * PAD_Y, color)


def _expandable(layer, expand):
    return expand and isinstance(layer, Functional) and layer.built


def _collect(model, options, expand, boxes, edges, clusters, path=()):
    """Adds a box per layer of `model` (the layers of expanded nested models, in a cluster) and its edges, as
    Keras's `model_to_dot` does: an edge into or out of an expanded model goes to the layer inside."""
    in_graph = {node.id for node in model.nodes}
    members = {id(layer) for layer in model.layers}
    for layer in model.layers:
        if _expandable(layer, expand):
            clusters.append(layer.name)
            _collect(layer, options, expand, boxes, edges, clusters, path + (len(clusters) - 1,))
        else:
            boxes[id(layer)] = _box(layer, in_graph, options, path)
    for layer in model.layers:
        for node in (n for n in layer.inbound_nodes if n.id in in_graph):
            for index, tensor in enumerate(node.inputs):
                source, _, out_index = tensor.history
                if id(source) not in members:  # a Sequential's InputLayer is not drawn, as in Keras
                    continue
                target = layer
                while _expandable(source, expand):
                    source, _, out_index = source.outputs[out_index].history
                while _expandable(target, expand):
                    target = (target.layers[0] if isinstance(target, Sequential)
                              else target.inputs[index].node.layer)
                edges.append((id(source), id(target)))


def _ranks(boxes, edges):
    """Longest-path ranks, in topological order; a cycle (a layer shared along a path) is broken where it stalls."""
    preds, succs = {k: [] for k in boxes}, {k: [] for k in boxes}
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    waiting = {k: len(preds[k]) for k in boxes}
    ready, rank = [k for k in boxes if not waiting[k]], {}
    while len(rank) < len(boxes):
        key = ready.pop(0) if ready else next(k for k in boxes if k not in rank)
        if key in rank:
            continue
        boxes[key].rank = rank[key] = max((rank[p] + 1 for p in preds[key] if p in rank), default=0)
        for d in succs[key]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)


def _crossings(ranks):
    total = 0
    for upper, lower in zip(ranks, ranks[1:]):
        at, seen = {id(n): i for i, n in enumerate(lower)}, []
        for _, v in sorted((i, at[id(s)]) for i, n in enumerate(upper) for s in n.succs):
            total += len(seen) - bisect.bisect_right(seen, v)
            bisect.insort(seen, v)
    return total


def _order(ranks, sweeps=12):
    """Barycentre sweeps; keeps the order with the fewest crossings, then puts each cluster's nodes together."""
    best, fewest = [list(r) for r in ranks], _crossings(ranks)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        for r in range(1, len(ranks)) if down else range(len(ranks) - 2, -1, -1):
            at = {id(n): i for i, n in enumerate(ranks[r - 1 if down else r + 1])}
            now = {id(n): i for i, n in enumerate(ranks[r])}
            ranks[r].sort(key=lambda n: _mean([at[id(m)] for m in (n.preds if down else n.succs)], now[id(n)]))
        count = _crossings(ranks)
        if count < fewest:
            best, fewest = [list(r) for r in ranks], count
    for r, nodes in enumerate(best):
        at, depth = {id(n): i for i, n in enumerate(nodes)}, max(len(n.clusters) for n in nodes)
        ranks[r] = sorted(nodes, key=lambda n: [
            _mean([at[id(m)] for m in nodes if m.clusters[:level + 1] == n.clusters[:level + 1]], 0)
            if level < len(n.clusters) else at[id(n)] for level in range(depth)] + [at[id(n)]])


def _mean(values, default):
    return sum(values) / len(values) if values else default


def _isotonic(targets, weights, seps):
    """The positions closest to `targets` (weighted least squares) with x[i] - x[i-1] >= seps[i]: pool adjacent
    violators on the targets less the cumulative separations."""
    offsets, blocks = list(itertools.accumulate(seps)), []
    for target, weight, offset in zip(targets, weights, offsets):
        blocks.append([target - offset, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks[-1]
            blocks[-1] = [(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2]
    return [v + o for (v, _, count), o in zip([b for b in blocks for _ in range(b[2])], offsets)]


def _median(pulls, current):
    """The weighted median of sorted (x, weight) pairs; where it is an interval, `current` clamped to it."""
    half, acc = sum(w for _, w in pulls) / 2, 0.0
    for i, (x, weight) in enumerate(pulls):
        acc += weight
        if acc > half + 1e-9:
            return x
        if acc > half - 1e-9:
            return min(max(current, x), pulls[i + 1][0])
    return current


def _position(ranks, sweeps=24):
    """Sets `x` (across the ranks): edges through waypoints weigh 2, or 9 between two waypoints, as in Graphviz,
    so long edges run straight."""
    shared = {}  # a path without branches shares its widest breadth, so that it can run straight
    for node in (n for nodes in ranks for n in nodes):
        above = node.preds[0] if len(node.preds) == 1 and len(node.preds[0].succs) == 1 else None
        shared[id(node)] = shared[id(above)] if above is not None else [0.0]
        shared[id(node)][0] = max(shared[id(node)][0], node.breadth)

    def gap(a, b):
        common = len(os.path.commonprefix([a.clusters, b.clusters]))
        frames = CLUSTER_PAD * (len(a.clusters) + len(b.clusters) - 2 * common)
        return (shared[id(a)][0] + shared[id(b)][0]) / 2 + (EDGE_GAP if a.dummy or b.dummy else NODE_GAP) + frames

    seps = [[0.0] + [gap(a, b) for a, b in zip(nodes, nodes[1:])] for nodes in ranks]
    for nodes, sep in zip(ranks, seps):
        for node, x in zip(nodes, _isotonic([0.0] * len(nodes), [1.0] * len(nodes), sep)):
            node.x = x - sum(sep) / 2
    for sweep in range(sweeps):
        for r in range(len(ranks)) if sweep % 2 == 0 else range(len(ranks) - 1, -1, -1):
            pulls = [sorted((m.x, 1 + (m.dummy + n.dummy) ** 3) for m in n.preds + n.succs) for n in ranks[r]]
            targets = [_median(p, n.x) for p, n in zip(pulls, ranks[r])]
            weights = [sum(w for _, w in p) or 1e-3 for p in pulls]
            for node, x in zip(ranks[r], _isotonic(targets, weights, seps[r])):
                node.x = x


def _layout(boxes, edges, across):
    """Places the boxes. Returns (each forward edge as its chain of nodes, the edges closing a cycle, every node,
    the centre and thickness of each rank)."""
    _ranks(boxes, edges)
    chains, back, nodes = [], [], list(boxes.values())
    for a, b in ((boxes[s], boxes[d]) for s, d in edges):
        if a.rank >= b.rank:
            back.append((a, b))
            continue
        chain = [a] + [_Node(clusters=os.path.commonprefix([a.clusters, b.clusters])) for _ in range(a.rank + 1,
                                                                                                      b.rank)] + [b]
        for u, v in zip(chain, chain[1:]):
            v.rank = u.rank + 1 if v.dummy else v.rank
            u.succs.append(v)
            v.preds.append(u)
        nodes += chain[1:-1]
        chains.append(chain)
    ranks = [[] for _ in range(max(n.rank for n in nodes) + 1)]
    for node in nodes:
        ranks[node.rank].append(node)
        node.breadth, node.along = (node.width, node.height) if across else (node.height, node.width)
    _order(ranks)
    _position(ranks)
    depth = max(len(n.clusters) for n in nodes)
    thickness = [max(n.along for n in r) for r in ranks]
    step = RANK_GAP + 2 * CLUSTER_PAD * depth
    centres = [at - t / 2 + i * step for i, (t, at) in enumerate(zip(thickness, itertools.accumulate(thickness)))]
    return chains, back, nodes, centres, thickness


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Draws the layer graph of a model, boxes and arrows, and saves it, as `keras.utils.plot_model` does.

    Needs only matplotlib (Keras needs pydot and Graphviz). One box per layer of `model.layers` (a Sequential's
    InputLayer is not drawn, as in Keras), one arrow per connection between two layers (skip connections and
    merges included), a nested model as one box unless `expand_nested`. The text keeps its size (10 and 9 points)
    however large the model: the figure grows with the graph instead.

    Args:
        model: a built cnnkit Model or Sequential (a subclassed model is drawn as one box).
        to_file: the image file, '.png', '.svg' or '.pdf' (no extension: PNG), written to a temporary file in the
            same folder and then renamed; parent folders are created. None draws without saving.
        show_shapes: add each layer's input and output shapes, as Keras writes them: '(None, 26, 26, 32)'.
        show_dtype: add each layer's output dtype.
        show_layer_names: 'name (ClassName)' in each box; False shows the class name only.
        rankdir: 'TB' (top to bottom) or 'LR' (left to right); also Graphviz's 'BT' and 'RL'.
        expand_nested: draw the layers of nested models, inside a dashed frame named after the model.
        dpi: resolution of the figure and of the PNG (a PNG over 65535 pixels a side is saved at a lower dpi, with a
            warning; SVG and PDF have no such limit).
        show_layer_activations: add the activation of the layers that have one (Dense, Conv2D, Activation, ...).
        show_trainable: add 'Trainable: Y' or 'Trainable: N' to the layers that have weights.

    Returns:
        The matplotlib Figure, where Keras returns an IPython Image. Jupyter displays the Figure inline; scripts
        can show, change or save it again. Close it (`plt.close(fig)`) when drawing many models.

    Raises:
        TypeError: `model` is not a cnnkit model, or an unknown keyword argument (the message names the closest).
        ValueError: an unbuilt model, an unknown `rankdir`, or a file extension other than .png, .svg and .pdf.
        ImportError: matplotlib is not installed.

    Example:
        >>> fig = plot_model(model, to_file="model.png", show_shapes=True)
        >>> fig = plot_model(resnet, to_file="resnet.svg", rankdir="LR", show_layer_activations=True)
    """
    check_kwargs("plot_model()", kwargs, list(inspect.signature(plot_model).parameters)[:-1])
    if not isinstance(model, Layer):
        raise TypeError(f"plot_model expects a cnnkit Model. Received: {type(model).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be one of {list(RANKDIRS)}. Received: rankdir={rankdir!r}")
    fmt = None if to_file is None else os.path.splitext(os.fspath(to_file))[1][1:].lower() or "png"
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"plot_model cannot write '.{fmt}' files ({to_file}). Supported formats: "
                         f"{', '.join('.' + f for f in FORMATS)}.")
    graph_model = isinstance(model, Functional) and model.built
    if not graph_model and not model.built:
        raise ValueError(f"Model '{model.name}' has not yet been built. Build it first by calling build() or by "
                         "calling the model on a batch of data.")
    options = {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations, "show_trainable": show_trainable}
    plt = _mpl.pyplot()
    boxes, edges, clusters = {}, [], []
    if not graph_model:
        boxes[id(model)] = _box(model, set(), options, ())
    else:
        _collect(model, options, expand_nested, boxes, edges, clusters)
    across = rankdir in ("TB", "BT")
    chains, back, nodes, centres, thickness = _layout(boxes, list(dict.fromkeys(edges)), across)

    margin = MARGIN + CLUSTER_PAD * max(len(n.clusters) for n in nodes)
    low, high = min(n.x - n.breadth / 2 for n in nodes), max(n.x + n.breadth / 2 for n in nodes)
    span = (high - low + 2 * margin, centres[-1] + thickness[-1] / 2 + 2 * margin)
    width, height = span if across else span[::-1]

    def to_xy(x, r):
        """(across, along the ranks) -> figure points; rank 0 at the top (TB), left (LR), bottom (BT), right."""
        x, r = x - low + margin, r + margin
        return {"TB": (x, height - r), "BT": (x, r), "LR": (r, height - x), "RL": (width - r, height - x)}[rankdir]

    fig = plt.figure(figsize=(width / 72, height / 72), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    _draw(ax, boxes, chains, back, centres, thickness, to_xy, clusters)
    if fmt is not None:
        save_dpi = dpi
        side = max(width, height) + 15  # finish() pads the figure with 0.1 inch on each side
        if fmt == "png" and side / 72 * dpi > MAX_PIXELS:
            save_dpi = int(MAX_PIXELS * 72 / side)
            warnings.warn(f"plot_model: the graph is too large for a {dpi}-dpi PNG (at most {MAX_PIXELS} pixels a "
                          f"side); saving it at {save_dpi} dpi. Save it as .svg or .pdf to keep every detail.",
                          stacklevel=2)
        _mpl.finish(fig, to_file, dpi=save_dpi)
    return fig


def _draw(ax, boxes, chains, back, centres, thickness, to_xy, clusters):
    """Adds one FancyBboxPatch and its Text lines per layer, a dashed frame per cluster, and one FancyArrowPatch
    per edge (curves across the gaps between ranks, straight through the ranks)."""
    from matplotlib.patches import FancyArrowPatch  # noqa: PLC0415 (matplotlib is imported on demand)
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415
    from matplotlib.patches import Rectangle  # noqa: PLC0415
    from matplotlib.path import Path  # noqa: PLC0415

    frames = {}
    for node in boxes.values():
        cx, cy = to_xy(node.x, centres[node.rank])
        left, bottom, top = cx - node.width / 2, cy - node.height / 2, cy + node.height / 2 - PAD_Y
        ax.add_patch(FancyBboxPatch((left, bottom), node.width, node.height, boxstyle="round,pad=0,rounding_size=4",
                                    facecolor=node.color, edgecolor="#333333", linewidth=0.8, zorder=2))
        for text, size, bold in node.lines:
            ax.text(cx, top - size * LINE / 2, text, fontsize=size, fontweight="bold" if bold else "normal",
                    ha="center", va="center", zorder=3)
            top -= size * LINE
        for level, cluster in enumerate(node.clusters):
            pad = CLUSTER_PAD * (len(node.clusters) - level)
            frames.setdefault(cluster, []).append((left - pad, bottom - pad, cx + node.width / 2 + pad, cy + pad +
                                                   node.height / 2))
    for cluster, extents in frames.items():
        (x0, y0), (x1, y1) = np.min(extents, axis=0)[:2], np.max(extents, axis=0)[2:]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--", edgecolor="#888888",
                               linewidth=0.8, zorder=1))
        ax.text(x0 + 3, y1 - 1.5, clusters[cluster], fontsize=8, style="italic", color="#555555", va="top")
    arrow = {"arrowstyle": "-|>", "mutation_scale": 10, "linewidth": 1.0, "color": "#444444", "zorder": 1.5}
    for chain in chains:
        first, end = chain[0], chain[-1]
        points = [(first.x, centres[first.rank] + first.along / 2)]
        points += [(n.x, centres[n.rank] + side * thickness[n.rank] / 2) for n in chain[:-1] for side in (-1, 1)][1:]
        points += [(end.x, centres[end.rank] + side / 2) for side in (-thickness[end.rank], -end.along)]
        verts, codes = [points[0]], [Path.MOVETO]
        for i in range(1, len(points)):
            (xa, ra), (xb, rb) = points[i - 1], points[i]
            if i % 2 == 0:  # across the gap between two ranks: an S-curve
                verts += [(xa, (ra + rb) / 2), (xb, (ra + rb) / 2), (xb, rb)]
                codes += [Path.CURVE4] * 3
            elif (xa, ra) != (xb, rb):  # within a rank: straight along it
                verts.append((xb, rb))
                codes.append(Path.LINETO)
        ax.add_patch(FancyArrowPatch(path=Path([to_xy(*v) for v in verts], codes), **arrow))
    for a, b in back:  # edges closing a cycle (a layer shared along a path): an arc from centre to centre
        start, finish = to_xy(a.x, centres[a.rank]), to_xy(b.x, centres[b.rank])
        if a is b:  # a loop on the right side of the box
            start, finish = [(start[0] + a.width / 2, start[1] + side * a.height / 4) for side in (1, -1)]
        ax.add_patch(FancyArrowPatch(start, finish, connectionstyle="arc3,rad=-0.6", **arrow))
