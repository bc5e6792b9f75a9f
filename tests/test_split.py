import numpy as np

from lmsys.data import load_competition_csv
from lmsys.data.split import fold_ids, train_val_split
from conftest import REAL_TRAIN_PATH


def test_split_is_stratified_seeded_and_disjoint(real_data):
    df = load_competition_csv(REAL_TRAIN_PATH)
    tr, va = train_val_split(df, 0.2, seed=1)
    tr2, va2 = train_val_split(df, 0.2, seed=1)
    assert len(va) == 200 and set(tr["id"]).isdisjoint(va["id"])
    assert va["id"].tolist() == va2["id"].tolist()
    share = np.bincount(va["class_label"]) / len(va)
    assert np.allclose(share, np.bincount(df["class_label"]) / len(df), atol=0.01)


def test_folds_cover_every_row_once_with_balanced_classes(real_data):
    df = load_competition_csv(REAL_TRAIN_PATH)
    folds = fold_ids(df, 5, seed=3)
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4] and (folds >= 0).all()
    for k in range(5):
        counts = np.bincount(df["class_label"][folds == k], minlength=3)
        assert abs(counts[0] - 352 / 5) <= 2 and abs(counts[2] - 295 / 5) <= 2
