"""`model.export(filepath, format='onnx')`: the model's inference pass as an ONNX file.

The exported graph takes what `predict` takes and returns what `predict` returns: Keras-layout float32 inputs
(batch, height, width, channels), one per model input and named after its Input layer, with a dynamic batch axis,
and one output per model output, named after the layer that produces it. Inside, the graph is the one cnnkit runs
(channels-first tensors, the rewrites of `cnnkit.models.fusion`, Keras's 'same' padding and BatchNormalization
in inference mode, Dropout as the identity): it is traced through the same code path as `predict`, so the two
compute the same numbers.

The exporter is torch's TorchScript-based one (`torch.onnx.export(..., dynamo=False)`): it needs only the `onnx`
package (no onnxscript), runs offline and takes about a second for ResNet50. Image sizes are fixed at export (the
'same' padding is computed for them); only the batch axis is dynamic.
"""

import contextlib
import io
import json
import os
import warnings

import torch

from cnnkit.layers.node import flatten
from cnnkit.models.functional import Functional
from cnnkit.registry import check_kwargs
from cnnkit.registry import did_you_mean
from cnnkit.utils.io import atomic_path

FORMATS = ("onnx",)
_KERAS_FORMATS = ("tf_saved_model", "openvino", "litert", "torch")  # Keras's other formats, not written by cnnkit
_TRACE_BATCH = 2  # the batch size traced with a dynamic batch axis (not 1, which tracing could fold into shapes)
_INSTALL = 'pip install "cnnkit[onnx]"'


def export_model(model, filepath, format="", verbose=True, input_signature=None, **kwargs):
    """Writes `model`'s inference pass to `filepath` as an ONNX file (atomically). See `Model.export`."""
    check_kwargs("export()", kwargs, ("opset_version", "metadata"))
    metadata = _check_metadata(kwargs.get("metadata"))
    _check_format(format)
    opset = _check_opset(kwargs.get("opset_version"))
    path = _check_path(filepath)
    onnx = _require_onnx()
    specs = input_specs(model, input_signature)
    names_in = [name for name, _ in specs]
    dummies = _dummy_inputs(model, specs)
    wrapper = _KerasLayout(model, len(specs))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = wrapper(*dummies)
        names_out = output_names(model, len(outputs))
        dynamic = {name: {0: "batch"} for (name, shape) in specs if shape[0] is None}
        if dynamic:
            dynamic.update({name: {0: "batch"} for name, out in zip(names_out, outputs) if out.dim() >= 1})
        buffer = io.BytesIO()
        with torch.no_grad(), _quiet_exporter(), _movedim_symbolic():
            torch.onnx.export(wrapper, tuple(dummies), buffer, dynamo=False, input_names=names_in,
                              output_names=names_out, dynamic_axes=dynamic or None, opset_version=opset,
                              do_constant_folding=True)
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    _fix_output_shapes(proto, outputs, dynamic_batch=bool(dynamic))
    onnx.checker.check_model(proto)
    proto.producer_name = "cnnkit"
    proto.doc_string = f"cnnkit model '{model.name}': Keras-layout (channels_last) float32 inputs."
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    _write(path, proto.SerializeToString())
    if verbose:
        print(f"Saved artifact at '{path}'.")


# ---- arguments ---------------------------------------------------------------------------------------------


def _check_format(format):
    if format in ("", None) or format in FORMATS:
        return "onnx"
    if format in _KERAS_FORMATS:
        raise ValueError(f"export: cnnkit writes only format='onnx' (Keras's '{format}' needs Keras's own "
                         f"backends). Received: format={format!r}")
    raise ValueError(f"export: unknown format.{did_you_mean(format, FORMATS)} Supported formats: "
                     f"{', '.join(repr(f) for f in FORMATS)}. Received: format={format!r}")


def _check_metadata(metadata):
    """{str: str} written into the file's metadata_props (non-str values as JSON)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise ValueError(f"export: metadata must be a dict with str keys. Received: metadata={metadata!r}")
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def _check_opset(opset):
    from torch.onnx import _constants  # noqa: PLC0415

    low, high = _constants.ONNX_BASE_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    if opset is None:
        return None
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise ValueError(f"export: opset_version must be an int from {low} to {high}. Received: "
                         f"opset_version={opset!r}")
    return opset


def _check_path(filepath):
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(f"export: filepath must be a str or os.PathLike. Received: filepath={filepath!r}") from None
    if not path or os.path.isdir(path):
        raise ValueError(f"export: filepath must name a file (e.g. 'model.onnx'), not a folder. Received: "
                         f"filepath={path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    ancestor = parent
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"export: cannot write {path!r}: {ancestor!r} is a file, not a folder.")
    return path


def _require_onnx():
    try:
        import onnx  # noqa: PLC0415
    except ImportError:
        raise ImportError(f"export(format='onnx') needs the onnx package (and onnxruntime to run the file): "
                          f"{_INSTALL}") from None
    return onnx


def _write(path, data):
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(data)
    except OSError as err:
        raise type(err)(err.errno, f"export: cannot write {path!r}: {err.strerror or err}") from None


# ---- inputs and outputs ------------------------------------------------------------------------------------


def input_specs(model, input_signature=None):
    """[(ONNX input name, Keras-layout shape with None for a dynamic batch)] for `model`.

    Args:
        model: a built cnnkit model.
        input_signature: None (the model's own input shapes), or one spec or a list of specs, one per input: a
            shape tuple such as (None, 224, 224, 3), or anything with a `.shape` (keras.InputSpec, tf.TensorSpec,
            a SymbolicTensor, an array).

    Raises:
        ValueError: an unbuilt model, a subclassed model without input_signature, a wrong number of specs, a
            shape that does not fit the model, or an unknown size on an axis other than the batch axis.
    """
    if isinstance(model, Functional):
        references = model.inputs
        names = model.input_names
        expected = [tuple(t.shape) for t in references]
    else:
        if not (model.built or any(layer.built for layer in model.layers)):
            raise ValueError(f"export: model '{model.name}' has not yet been built (call it on data first).")
        if input_signature is None:
            raise ValueError(f"export: model '{model.name}' is a subclassed model, whose input shapes cnnkit "
                             "does not know; pass input_signature=[(None, height, width, channels)].")
        names, expected = None, None
    if input_signature is None:
        shapes = expected
    else:
        given = list(input_signature) if isinstance(input_signature, (list, tuple)) and not _is_shape(
            input_signature) else [input_signature]
        shapes = [_spec_shape(spec) for spec in given]
        if expected is not None and len(shapes) != len(expected):
            raise ValueError(f"export: model '{model.name}' has {len(expected)} input(s) {expected}; "
                             f"input_signature gives {len(shapes)}. Received: input_signature={input_signature!r}")
        names = names or [f"input_{i}" for i in range(len(shapes))]
        for shape, reference in zip(shapes, expected or [None] * len(shapes)):
            if reference is not None and (len(shape) != len(reference) or any(
                    r is not None and s is not None and r != s for r, s in zip(reference[1:], shape[1:]))):
                raise ValueError(f"export: input_signature shape {shape} does not fit the model's input shape "
                                 f"{reference}.")
    specs = []
    for name, shape in zip(names, shapes):
        unknown = [axis for axis, size in enumerate(shape) if axis > 0 and size is None]
        if unknown:
            raise ValueError(f"export: input '{name}' has no fixed size on axis {unknown[0]} (shape {shape}); the "
                             f"ONNX graph needs fixed image sizes. Pass input_signature with them, e.g. "
                             f"input_signature=[(None, 224, 224, 3)].")
        specs.append((name, shape))
    return specs


def _is_shape(value):
    return isinstance(value, (list, tuple)) and all(v is None or isinstance(v, int) for v in value)


def _spec_shape(spec):
    dtype = getattr(spec, "dtype", None)
    if dtype is not None and "float32" not in str(dtype):
        raise ValueError(f"export: the ONNX graph takes float32 inputs. Received an input_signature entry with "
                         f"dtype={dtype}")
    shape = getattr(spec, "shape", spec)
    try:
        shape = tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"export: each input_signature entry must be a shape like (None, 28, 28, 1) or have a "
                         f".shape. Received: {spec!r}") from None
    if not shape or any(s is not None and s <= 0 for s in shape):
        raise ValueError(f"export: input_signature shapes need a batch axis and positive sizes. Received: {shape}")
    return shape


def output_names(model, count):
    """ONNX output names: the layers that produce the model's outputs (made unique), else output_0, ..."""
    if isinstance(model, Functional):
        names = model.output_names
    else:
        names = [f"output_{i}" for i in range(count)]
    seen, unique = {}, []
    for name in names:
        seen[name] = seen.get(name, -1) + 1
        unique.append(name if not seen[name] else f"{name}_{seen[name]}")
    return unique


def _dummy_inputs(model, specs):
    parameters = list(model.parameters())
    for p in parameters:
        if p.dtype != torch.float32:
            raise ValueError(f"export: the ONNX graph is float32; model '{model.name}' has {p.dtype} weights.")
    device = parameters[0].device if parameters else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    return [torch.randn((_TRACE_BATCH if shape[0] is None else shape[0], *shape[1:]), generator=generator).to(device)
            for _, shape in specs]


def _fix_output_shapes(proto, outputs, dynamic_batch):
    """Writes the outputs' sizes into the file (the tracer leaves some as symbols): all fixed but the batch."""
    for value, traced in zip(proto.graph.output, outputs):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != traced.dim():
            continue
        for axis, (dim, size) in enumerate(zip(dims, traced.shape)):
            if axis == 0 and dynamic_batch:
                dim.dim_param = "batch"
            else:
                dim.dim_value = int(size)


class _KerasLayout(torch.nn.Module):
    """Keras-layout tensors in, a tuple of Keras-layout outputs out: `predict`'s own forward pass."""

    def __init__(self, model, n_inputs):
        super().__init__()
        self.model = model
        self.n_inputs = n_inputs

    def forward(self, *inputs):
        outputs = self.model._forward(list(inputs) if self.n_inputs > 1 else inputs[0], training=False)
        return tuple(flatten(outputs)[0])


# ---- the exporter ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_exporter():
    """Silences the TorchScript exporter's deprecation notice and its tracer warnings about Python values taken
    from sizes: those are the channel and image sizes, which the exported graph fixes (the batch axis stays
    dynamic; tests run the file at other batch sizes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=r".*The feature will be removed.*")
        warnings.filterwarnings("ignore", message=r".*Constant folding.*")
        yield


def _movedim(g, self, source, destination):
    """aten::movedim as an ONNX Transpose. Torch's own symbolic writes a negative axis (movedim(-1, 1), how cnnkit
    turns NHWC into NCHW) into the permutation, which ONNX rejects. `source`/`destination` are constant tensors."""
    from torch.onnx import symbolic_helper  # noqa: PLC0415

    rank = symbolic_helper._get_tensor_rank(self)
    source = [int(s) % rank for s in source.view(-1).tolist()]
    destination = [int(d) % rank for d in destination.view(-1).tolist()]
    perm = [None] * rank
    for s, d in zip(source, destination):
        perm[d] = s
    rest = iter(axis for axis in range(rank) if axis not in source)
    perm = [next(rest) if p is None else p for p in perm]
    return g.op("Transpose", self, perm_i=perm)


@contextlib.contextmanager
def _movedim_symbolic():
    from torch.onnx import symbolic_helper  # noqa: PLC0415

    opset = 9  # registered for this opset and every later one
    torch.onnx.register_custom_op_symbolic("aten::movedim", symbolic_helper.parse_args("v", "t", "t")(_movedim),
                                           opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::movedim", opset)
