import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REAL_TRAIN = "../shared/data/train_sample.csv"
REAL_TEST = "../shared/data/test.csv"


@pytest.fixture(scope="session")
def tiny_texts():
    """Option texts of the real rows, to train a tiny vocabulary on."""
    from lmsys.data import load_competition_csv
    from lmsys.data.options import build_options

    df = load_competition_csv(REAL_TRAIN)
    a, b = build_options(df, max_chars=2000)
    return df, a + b


@pytest.fixture(scope="session")
def tiny_parts(tiny_texts):
    """(config, tokenizer, backbone) of a small tiny model, random weights, float32."""
    import keras

    from lmsys.siamese.backbone import load_backbone, load_tokenizer
    from lmsys.siamese.train import default_config

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    config = default_config("tiny", sequence_length=96, buckets=[32, 64], precision="float32", dropout=0.0)
    tokenizer = load_tokenizer("tiny", tiny_texts[1], 800)
    backbone = load_backbone("tiny", config, tokenizer)
    return config, tokenizer, backbone
