"""Wheels that travel with the code dataset, so an offline kernel runs the keras / keras-hub it was made with.

`invoke push-code --wheels` downloads the pure-Python wheels of the versions installed here and puts
them beside the code; a kernel installs them (offline, no dependencies) into a private folder first on
sys.path before anything imports keras. Only the standard library is imported here: this runs
before the kernel imports anything else.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile

from lmsys.kaggle import KaggleError

# Pure-Python wheels of the libraries whose version the kernels must match (pinned to this machine's).
KERNEL_WHEELS = ("keras", "keras-hub")


def download_wheels(dest, packages=KERNEL_WHEELS) -> list[str]:
    """pip-download the wheels of `packages` at the versions installed here (no dependencies)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in packages:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise KaggleError(f"--wheels: {name} is not installed here, so there is no version to pin") from None
    os.makedirs(dest, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", dest, *pins]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise KaggleError(f"pip download {' '.join(pins)} failed:\n{done.stderr.strip()[-2000:]}")
    return sorted(os.path.join(dest, f) for f in os.listdir(dest) if f.endswith(".whl"))


def install_attached_wheels(code_dir) -> list[str]:
    """pip-install the wheels beside the code (offline, --no-deps) into a private folder put first on
    sys.path; the image's own packages stay as they are. Returns the wheels installed."""
    wheels = sorted(glob.glob(os.path.join(code_dir, "*.whl"))) if code_dir else []
    if wheels:
        target = os.path.join(tempfile.gettempdir(), "lmsys-wheels")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--upgrade",
                        "--target", target, *wheels], check=True)
        sys.path.insert(0, target)
        print("installed from the code dataset: " + ", ".join(os.path.basename(w) for w in wheels), flush=True)
    return wheels
