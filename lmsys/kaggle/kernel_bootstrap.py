"""Kaggle __KIND__ kernel. Generated from lmsys/kaggle/kernel_bootstrap.py by `invoke push-kernel` (and
`invoke kernels`, which rewrites kernels/*/): edit that file, not this one.

Kaggle runs one file per kernel, so this bootstrap travels whole: it finds the `lmsys` code (the attached
code dataset, else this checkout), installs the wheels attached beside it, and hands over to
lmsys.kaggle.kernel_main (main_infer writes <output>/submission.csv; main_train leaves <output>/model).
Locally: python kernels/__KIND__/__KIND__.py --input DIR --output DIR [--help]  (or LMSYS_INPUT_DIR / LMSYS_OUTPUT_DIR).
"""

import os
import sys
import tempfile
import zipfile

KIND = "__KIND__"
# Filled in by push-kernel in the pushed copy (a script kernel gets no arguments or environment of ours):
# allow_cpu -> LMSYS_ALLOW_CPU=1, push_id -> LMSYS_PUSH_ID (written into inference_report.json).
PUSH_SETTINGS = {}


def add_lmsys_to_path(input_dir):
    """Put the attached code dataset (lmsys/ or lmsys.zip) first on sys.path, else this checkout.
    Returns the code dataset's folder (None for a checkout)."""
    for dirpath, _, filenames in os.walk(input_dir, followlinks=True):
        if os.path.isfile(os.path.join(dirpath, "lmsys", "__init__.py")):
            sys.path.insert(0, dirpath)
            return dirpath
        if "lmsys.zip" in filenames:
            target = os.path.join(tempfile.gettempdir(), "lmsys-code")  # not the output dir
            zipfile.ZipFile(os.path.join(dirpath, "lmsys.zip")).extractall(os.path.join(target, "lmsys"))
            sys.path.insert(0, target)
            return dirpath
    here = os.path.abspath(globals().get("__file__", "."))
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    if os.path.isfile(os.path.join(checkout, "lmsys", "__init__.py")):
        sys.path.insert(0, checkout)
        return checkout
    return None  # an installed lmsys, if any


def option(name, env, default, argv):
    """The value of --name DIR or --name=DIR (as argparse reads it later), else the environment's."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1:]
    return os.environ.get(env, default)


if __name__ == "__main__":
    argv = sys.argv[1:]
    for key, value in PUSH_SETTINGS.items():
        os.environ.setdefault(f"LMSYS_{key.upper()}", "1" if value is True else str(value))
    code_dir = add_lmsys_to_path(option("--input", "LMSYS_INPUT_DIR", "/kaggle/input", argv))
    from lmsys.kaggle.wheels import install_attached_wheels  # imports no keras: the wheels come first

    install_attached_wheels(code_dir)
    import lmsys

    print(f"lmsys code: {os.path.dirname(os.path.abspath(lmsys.__file__))}", flush=True)
    from lmsys.kaggle import kernel_main

    getattr(kernel_main, f"main_{KIND}")(argv)
