"""`model.summary()`: Keras 3's table of layers, output shapes and parameter counts, in plain text (an HTML
table in a notebook, which is also how a model shows there)."""

import html
import shutil

from cnnkit import config
from cnnkit.layers.input_layer import InputLayer
from cnnkit.models.functional import Functional


def readable_size(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024


def _count(weights):
    return sum(w.numel() for w in weights), sum(w.numel() * w.element_size() for w in weights)


def shape_text(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def class_name(layer):
    """The class shown in the table: Keras's ('Functional' for Model(inputs, outputs), 'Sequential', ...)."""
    return type(layer).__name__


def _column_widths(requested, length):
    """Text widths of the columns so that the table, borders included, is `length` wide.

    As Keras's rich table does: each column asks for its share of `length` plus one space of padding on each
    side; the excess over `length` minus the borders is then taken from the columns evenly.
    """
    padded = [w + 2 for w in requested]
    excess = sum(padded) - (length - len(padded) - 1)
    remaining, columns = excess, len(padded)
    for i, width in enumerate(padded):
        cut = min(width, round(remaining / columns)) if remaining > 0 else 0
        padded[i] = width - cut
        remaining -= cut
        columns -= 1
    return [max(w - 2, 1) for w in padded]


def _align(text, width, align):
    if align == "right":
        return text.rjust(width)
    if align == "center":
        return text.center(width)
    return text.ljust(width)


def _wrap(text, width):
    """Splits text into lines of at most `width` characters, at spaces, truncating long words with '…'."""
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word if len(word) <= width else word[:width - 1] + "…"
    lines.append(current)
    return lines


def _sequential_like(model, nodes):
    """Keras's rule: one node per depth, none with several inputs, no shared layer, i.e. a single chain.

    The outputs may be several tensors along the chain (the feature-map model of the seeds is printed without
    a "Connected to" column, as in Keras).
    """
    if len(model.inputs) != 1:
        return False
    consumed, calls = {}, {}
    for node in nodes:
        if len(node.inputs) > 1:
            return False
        calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
        for tensor in node.inputs:
            consumed[id(tensor)] = consumed.get(id(tensor), 0) + 1
    return all(count == 1 for count in consumed.values()) and all(count == 1 for count in calls.values())


def _rows(model, graph_nodes, connected):
    rows = []
    in_graph = {n.id for n in graph_nodes or []}
    for layer in model.layers:
        nodes = [n for n in layer.inbound_nodes if n.id in in_graph]
        if not nodes:
            shape, params = "?", "0 (unbuilt)"
        else:
            out = nodes[0].outputs
            shape = shape_text([t.shape for t in out] if nodes[0].output_is_list else out[0].shape)
            params = f"{_count(layer.weights)[0]:,}"
        row = [f"{layer.name} ({class_name(layer)})", shape, params]
        if connected:
            refs = []
            for node in nodes:
                for tensor in node.inputs:
                    source, node_index, index = tensor.history
                    refs.append(f"{source.name}[{node_index}][{index}]")
            row.append(", ".join(refs) if refs and not isinstance(layer, InputLayer) else "-")
        row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(row)
    return rows


def summary_table(model, show_trainable=False, layer_range=None):
    """The summary's parts: (header, aligns, rows, totals, sequential_like); `totals` is
    [(label, count, bytes)] for the total, trainable and non-trainable parameters."""
    nodes = model.nodes if isinstance(model, Functional) and model.built else None
    sequential_like = nodes is None or _sequential_like(model, nodes)
    header = ["Layer (type)", "Output Shape", "Param #"]
    aligns = ["left", "left", "right"]
    if not sequential_like:
        header.append("Connected to")
        aligns.append("left")
    if show_trainable:
        header.append("Trainable")
        aligns.append("center")
    rows = _rows(model, nodes, not sequential_like)
    if not show_trainable:
        rows = [r[:-1] for r in rows]
    if layer_range is not None:
        names = [layer.name for layer in model.layers]
        start, end = names.index(layer_range[0]), names.index(layer_range[1])
        rows = rows[start:end + 1]
    total, total_bytes = _count(model.weights) if nodes is not None else (0, 0)
    trainable, trainable_bytes = _count(model.trainable_weights) if nodes is not None else (0, 0)
    totals = [("Total params", total, total_bytes), ("Trainable params", trainable, trainable_bytes),
              ("Non-trainable params", total - trainable, total_bytes - trainable_bytes)]
    return header, aligns, rows, totals, sequential_like


def summary_html(model, show_trainable=False, layer_range=None):
    """The summary as an HTML table (how a model and `summary()` show in a notebook)."""
    header, aligns, rows, totals, _ = summary_table(model, show_trainable, layer_range)
    cell = 'style="text-align:{};padding:2px 10px;font-family:monospace"'
    head = "".join(f"<th {cell.format(a)}>{html.escape(h)}</th>" for h, a in zip(header, aligns))
    body = "".join("<tr>" + "".join(f"<td {cell.format(a)}>{html.escape(str(v))}</td>" for v, a in zip(row, aligns))
                   + "</tr>" for row in rows)
    foot = "<br>".join(f"{label}: {count:,} ({readable_size(size)})" for label, count, size in totals)
    return (f'<div><b>Model: "{html.escape(model.name)}"</b><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table><p style=\"font-family:monospace\">{foot}</p></div>")


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Prints (or passes line by line to `print_fn`) the summary table of `model`; in a notebook, without
    `print_fn`, shows it as an HTML table."""
    if print_fn is None and config.in_notebook():
        from IPython.display import HTML, display  # noqa: PLC0415 (only inside a notebook)

        display(HTML(summary_html(model, show_trainable, layer_range)))
        return
    header, aligns, rows, totals, sequential_like = summary_table(model, show_trainable, layer_range)
    if sequential_like:
        default_length, positions = 88, positions or [0.45, 0.80, 1.0]
    else:
        default_length, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
    if show_trainable:
        default_length += 12
        positions = [p * 0.9 for p in positions] + [1.0]
    terminal = shutil.get_terminal_size((80, 24)).columns - 4
    length = line_length or min(default_length, max(terminal, 60))
    edges = [0] + [int(p * length) for p in positions]
    widths = _column_widths([edges[i + 1] - edges[i] for i in range(len(header))], length)

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values, sep):
        wrapped = [_wrap(v, w) for v, w in zip(values, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for lines, w, align in zip(wrapped, widths, aligns):
                text = lines[i] if i < len(lines) else ""
                parts.append(f" {_align(text, w, align)} ")
            out.append(sep + sep.join(parts) + sep)
        return out

    lines = [f'Model: "{model.name}"', rule("┏", "┳", "┓", "━")]
    lines += cells(header, "┃")
    lines.append(rule("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        if i:
            lines.append(rule("├", "┼", "┤", "─"))
        lines += cells(row, "│")
    lines.append(rule("└", "┴", "┘", "─"))
    lines += [f" {label}: {count:,} ({readable_size(size)})" for label, count, size in totals]
    emit = print_fn or print
    for line in lines:
        emit(line)
