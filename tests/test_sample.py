import hashlib

import numpy as np

from lmsys.data import load_competition_csv
from lmsys.evaluate.metrics import prior_log_loss
from lmsys.data.sample import write_sample


def test_sample_is_deterministic_and_in_the_competition_format(tmp_path):
    a = write_sample(tmp_path / "a", n_train=300, n_test=20)
    b = write_sample(tmp_path / "b", n_train=300, n_test=20)
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in a + b]
    assert digest[0] == digest[2] and digest[1] == digest[3]
    header = open(a[0]).readline().strip()
    assert header == "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie"
    assert open(a[1]).readline().strip() == "id,prompt,response_a,response_b"


def test_sample_holds_the_real_data_pitfalls(tmp_path):
    train, test = write_sample(tmp_path, n_train=2000, n_test=50)
    df = load_competition_csv(train)
    report = df.attrs["report"]
    assert report.multi_turn_rows > 100 and report.null_turns > 0 and report.encode_fail_rows > 0
    assert report.empty_responses > 0 and report.identical_responses > 0
    assert len(load_competition_csv(test)) == 50
    assert all(np.bincount(df["class_label"], minlength=3) > 200)


def test_sample_preference_is_learnable_from_text(tmp_path):
    """A trivial text rule (count of refusal/helpful phrases) must beat the class prior."""
    train, _ = write_sample(tmp_path, n_train=2000, n_test=10)
    df = load_competition_csv(train)

    def score(turns):
        text = " ".join(turns)
        return text.count("step") + text.count("example") - 2 * (text.count("cannot") + text.count("not sure"))

    diff = np.array([score(a) - score(b) for a, b in zip(df["response_a"], df["response_b"])])
    labels = df["class_label"].to_numpy()
    pred = np.where(diff > 0, 0, np.where(diff < 0, 1, 2))
    assert (pred == labels).mean() > 0.5  # the prior's best class is right ~40% of the time
    assert prior_log_loss(labels, labels) > 1.0
