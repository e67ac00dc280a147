"""The sub-commands of the `cnnkit` command line (`cnnkit.cli` parses the arguments and dispatches here): each is a
function `command(args)` of the parsed arguments returning the exit status.

    demo.py       demo: a small convnet on the built-in MNIST digits
    training.py   train, lr-find: a classifier from a folder of class sub-folders
    inference.py  evaluate, predict: a saved model on a folder or on image files
    models.py     summary, plot, export: a saved model or a built-in architecture

Modules here import only the standard library at import time (torch and the library's sub-packages load inside the
commands), so `cnnkit --help` stays instant.
"""


def applications():
    """`cnnkit.applications.APPLICATIONS` (loads torch: call it inside a command, not at import)."""
    from cnnkit.applications import APPLICATIONS  # noqa: PLC0415 (loads torch)

    return APPLICATIONS
