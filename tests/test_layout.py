"""The package's shape: the data layer stays light, and every model family goes through the one registry."""

import os
import re
import subprocess
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lmsys")


def test_importing_lmsys_data_loads_no_keras_jax_or_tensorflow():
    code = ("import sys, lmsys.data, lmsys.data.options, lmsys.data.split, lmsys.data.sample, lmsys.data.read; "
            "print(sorted(m for m in ('keras', 'keras_hub', 'jax', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_an_unknown_model_type_names_the_known_ones():
    from lmsys.models import FAMILIES, family

    with pytest.raises(ValueError, match=r"unknown model type 'gpt'; known: " + ", ".join(FAMILIES)):
        family("gpt")


@pytest.mark.parametrize("model_type", ["siamese", "features"])
def test_every_registered_family_exposes_the_interface(model_type):
    from lmsys.models import default_config, family

    fam = family(model_type)
    for name in ("default_config", "train_model", "predict_proba", "model_dir_name"):
        assert callable(getattr(fam, name)), name
    assert isinstance(fam.USES_PRESET, bool)
    config = default_config(model_type)
    assert config.model_type == model_type
    assert fam.model_dir_name(config)


def test_only_the_registry_decides_what_a_model_type_does():
    """`model_type ==` comparisons outside lmsys/models.py are how per-type branching crept in before."""
    offenders = []
    for dirpath, _, filenames in os.walk(PACKAGE):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.endswith(".py") or path == os.path.join(PACKAGE, "models.py"):
                continue
            family_dir = os.path.relpath(dirpath, PACKAGE).split(os.sep)[0]
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    m = re.search(r"model_type\s*[!=]=\s*['\"](\w+)['\"]", line)
                    # a family may check that a directory is its own (lmsys/gbm checking "features")
                    if m and not (family_dir != "." and _family_of(m.group(1)) == family_dir):
                        offenders.append(f"{os.path.relpath(path, PACKAGE)}:{lineno}: {line.strip()}")
    assert offenders == []


def _family_of(model_type):
    from lmsys.models import FAMILIES

    return FAMILIES.get(model_type, "").split(".")[-1]


def test_config_overrides_are_typed_by_the_field_they_set():
    from lmsys.config import parse_overrides

    assert parse_overrides(["epochs=2", "learning_rate=1e-4", "swap_augment=yes", "buckets=[64, 128]",
                            "preset=tiny"]) == {"epochs": 2, "learning_rate": 1e-4, "swap_augment": True,
                                                "buckets": [64, 128], "preset": "tiny"}
    with pytest.raises(ValueError, match="epochs: expected an integer, got 'two'"):
        parse_overrides(["epochs=two"])
    with pytest.raises(ValueError, match="unknown configuration key 'epoch'"):
        parse_overrides(["epoch=2"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_overrides(["epochs"])
