"""matplotlib on demand: imported only when a plot is asked for (importing cnnkit never imports it).

`pyplot()` picks the non-interactive Agg backend when no backend was chosen and no display exists (a server, CI,
a container), so every plot also works headless; `finish(fig, path)` saves a figure by its file extension (and, in a notebook, leaves it to be shown once, as
the returned value).
"""

import os
import sys
from pathlib import Path

from cnnkit.utils.io import atomic_path

INSTALL_HINT = "cnnkit.visualization needs matplotlib to draw plots: pip install matplotlib"


def _backend_chosen(matplotlib):
    """True when a backend was set (matplotlib.use, MPLBACKEND, matplotlibrc, or pyplot already imported)."""
    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return True
    get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    if get is not None:
        return get() is not None
    return False


def _headless():
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def pyplot():
    """Returns `matplotlib.pyplot`, importing it now.

    When no backend has been chosen and there is no display, the Agg backend is selected first, so figures can be
    drawn and saved on a headless machine. A backend the user chose (Jupyter's inline one, `matplotlib.use`,
    `MPLBACKEND`) is left alone.

    Raises:
        ImportError: matplotlib is not installed (the message says `pip install matplotlib`).

    Example:
        >>> plt = pyplot()
        >>> fig = plt.figure()
    """
    try:
        import matplotlib  # noqa: PLC0415 (optional dependency, imported on demand)
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    if not _backend_chosen(matplotlib) and _headless():
        matplotlib.use("Agg")
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} (importing matplotlib.pyplot failed: {error})") from error
    return plt


def resolve_path(path, to_file):
    """`path` or its Keras-style alias `to_file` (giving both is an error)."""
    if path is not None and to_file is not None:
        raise ValueError(f"Give the file as path= or to_file=, not both. Received: path={path!r}, to_file={to_file!r}")
    return path if path is not None else to_file


def _detach_in_notebook(fig):
    """Under Jupyter's inline backend, takes `fig` out of pyplot's list of open figures: the notebook then shows the
    returned figure once (as the cell's value), not a second time when the cell ends."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and "inline" in str(plt.get_backend()).lower():
        plt.close(fig)


def finish(fig, path=None, to_file=None, dpi=100):
    """Saves `fig` when a path is given and returns it.

    The format follows the extension ('.png', '.svg', '.pdf', or any other matplotlib can write; no extension:
    PNG). Parent folders are created, and the file is written to a temporary name then renamed, so an interrupted
    save never leaves half a file.

    Args:
        fig: a matplotlib Figure.
        path: str or os.PathLike, or None (do not save).
        to_file: alias of `path` (Keras's `plot_model` name).
        dpi: resolution of raster formats.

    Returns:
        `fig`.

    Example:
        >>> finish(fig, "plots/history.svg")
    """
    path = resolve_path(path, to_file)
    _detach_in_notebook(fig)
    if path is None:
        return fig
    target = Path(os.fspath(path)).expanduser()
    fmt = target.suffix[1:].lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"Cannot save a figure as '.{fmt}' ({target}): use one of "
                         f"{', '.join('.' + ext for ext in sorted(supported))}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return fig
