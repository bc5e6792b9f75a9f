"""Hostile inputs (issue 13): every one gets an error that names the file, row or flag, or is skipped and
reported with strict=False; nothing becomes a silently wrong value."""

import os

import pandas as pd
import pytest

from lmsys.data import DataError, load_competition_csv

from conftest import REAL_TEST_PATH as REAL_TEST, REAL_TRAIN_PATH as REAL_TRAIN
from test_data import _row, _write  # one way to write a small competition file


# --- ids (items 3, 4) ---

def test_an_id_above_int64_is_rejected_naming_the_row_not_wrapped(tmp_path):
    big = str(2 ** 63)
    path = _write(tmp_path, [_row(id="5"), _row(id=big), _row(id=str(2 ** 63 + 1))])
    with pytest.raises(DataError) as err:
        load_competition_csv(path)
    message = str(err.value)
    assert f"#2 ('{big}')" in message and "64-bit" in message and "duplicate" not in message


def test_ids_at_the_int64_limits_are_read_exactly(tmp_path):
    ids = [str(2 ** 63 - 1), str(-(2 ** 63)), "123456789012345678"]
    df = load_competition_csv(_write(tmp_path, [_row(id=i) for i in ids]))
    assert df["id"].tolist() == [int(i) for i in ids]
    assert str(df["id"].dtype) == "int64"


def test_a_fractional_id_is_rejected_naming_the_row(tmp_path):
    path = _write(tmp_path, [_row(id="1"), _row(id="2.5")])
    with pytest.raises(DataError, match=r"row id #2 \('2.5'\).*'id'.*not an integer"):
        load_competition_csv(path)


def test_an_integral_float_id_reads_as_that_integer(tmp_path):
    df = load_competition_csv(_write(tmp_path, [_row(id="7.0"), _row(id="8")]))
    assert df["id"].tolist() == [7, 8]


def test_non_strict_skips_fractional_and_out_of_range_ids_and_reports_them(tmp_path):
    rows = [_row(id="1"), _row(id="2.5"), _row(id="3"), _row(id=str(2 ** 64)), _row(id="abc")]
    df = load_competition_csv(_write(tmp_path, rows), strict=False)
    assert df["id"].tolist() == [1, 3]
    assert str(df["id"].dtype) == "int64"
    skipped = df.attrs["report"].skipped
    assert len(skipped) == 3 and any("2.5" in str(k) for k in skipped)


def test_a_fractional_test_id_fails_predict_input_with_one_named_error(tmp_path):
    path = _write(tmp_path, [{"id": "4.5", "prompt": '["p"]', "response_a": '["a"]', "response_b": '["b"]'}],
                  name="test.csv")
    with pytest.raises(DataError, match=r"test.csv, row id #1 \('4.5'\)"):
        load_competition_csv(path)


# --- deep JSON (item 8) ---

def test_json_nested_100000_levels_is_a_data_error_naming_the_row(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = _write(tmp_path, [_row(id="1"), _row(id="2", response_b=deep)])
    with pytest.raises(DataError, match=r"row id 2, column 'response_b'.*nested too deeply"):
        load_competition_csv(path)


def test_non_strict_skips_a_deeply_nested_row(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    df = load_competition_csv(_write(tmp_path, [_row(id="1"), _row(id="2", prompt=deep)]), strict=False)
    assert df["id"].tolist() == [1]
    assert list(df.attrs["report"].skipped) == [2]


# --- training inputs are checked before the output directory is touched (items 1, 7) ---

def _earlier_run(tmp_path, name="v"):
    model = tmp_path / "models" / name
    (model / "best-e1-abc").mkdir(parents=True)
    (model / "metrics.json").write_text('{"val_log_loss": 1.0}')
    (model / "model.json").write_text('{"generation": "best-e1-abc"}')
    return model


def _train_cli(**kwargs):
    from lmsys.train import run_from_cli

    return run_from_cli(**kwargs)


def _assert_untouched(model):
    assert (model / "metrics.json").read_text() == '{"val_log_loss": 1.0}'
    assert not [p for p in model.parent.iterdir() if p.name.startswith(".previous")]


def test_a_missing_data_file_leaves_the_existing_model_dir_untouched(tmp_path):
    model = _earlier_run(tmp_path)
    for _ in range(2):  # a second failure must not lose anything either
        with pytest.raises(FileNotFoundError, match="--data .*typo.csv: no such file"):
            _train_cli(data=str(tmp_path / "typo.csv"), out=str(model))
    _assert_untouched(model)


@pytest.mark.parametrize("flags, message", [
    ({"precision": "float64"}, "--precision: expected one of 'auto', 'float32'"),
    ({"epochs": "one"}, "--epochs: expected an integer, got 'one'"),
    ({"epochs": "0"}, "--epochs: expected an integer of at least 1, got 0"),
    ({"learning_rate": "fast"}, "--learning-rate: expected a number, got 'fast'"),
    ({"swap_augment": "maybe"}, "--swap-augment: expected true or false, got 'maybe'"),
    ({"attention": "flash"}, "--attention: expected one of 'fast', 'keras_hub', got 'flash'"),
])
def test_a_bad_flag_is_named_and_leaves_the_existing_model_dir_untouched(real_data, tmp_path, flags, message):


    model = _earlier_run(tmp_path)
    with pytest.raises(ValueError) as err:
        _train_cli(data=REAL_TRAIN, out=str(model), **flags)
    assert message in str(err.value)
    _assert_untouched(model)


def test_a_bad_set_override_is_named(real_data, tmp_path):


    model = _earlier_run(tmp_path)
    with pytest.raises(ValueError, match="max_chars: expected an integer, got 'lots'"):
        _train_cli(data=REAL_TRAIN, out=str(model), overrides=["max_chars=lots"])
    _assert_untouched(model)


def test_a_missing_preset_directory_is_named_before_the_model_dir_is_touched(real_data, tmp_path):


    model = _earlier_run(tmp_path)
    with pytest.raises(ValueError, match="no config.json"):
        _train_cli(data=REAL_TRAIN, out=str(model), preset=str(tmp_path / "no-such-preset"))
    _assert_untouched(model)


def _train_rows(n, tmp_path, name="few.csv"):
    rows = [_row(id=str(i), winner_model_a=int(i % 3 == 0), winner_model_b=int(i % 3 == 1),
                 winner_tie=int(i % 3 == 2)) for i in range(n)]
    path = tmp_path / name
    if n:
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        path.write_text(",".join(_row()) + "\n")
    return path


@pytest.mark.parametrize("model_type", ["siamese", "features"])
@pytest.mark.parametrize("rows, message", [(0, "no data rows"), (3, "3 rows with class counts")])
def test_too_few_training_rows_give_one_line_naming_the_file(tmp_path, model_type, rows, message):
    model = _earlier_run(tmp_path)
    path = _train_rows(rows, tmp_path)
    with pytest.raises(DataError) as err:
        _train_cli(data=str(path), out=str(model), model_type=model_type)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    _assert_untouched(model)


def test_a_test_format_file_given_to_train_is_named(real_data, tmp_path):


    model = _earlier_run(tmp_path)
    with pytest.raises(DataError, match="test.csv: has the test file's columns"):
        _train_cli(data=REAL_TEST, out=str(model))
    _assert_untouched(model)


def test_setting_aside_twice_keeps_both_earlier_runs(tmp_path):
    from lmsys.run_dir import set_aside_previous_run

    first = _earlier_run(tmp_path)
    aside1 = set_aside_previous_run(first)
    second = _earlier_run(tmp_path)
    (second / "metrics.json").write_text('{"val_log_loss": 2.0}')
    aside2 = set_aside_previous_run(second)
    assert aside1 != aside2 and os.path.basename(aside2).startswith(".previous-v-")
    assert open(os.path.join(aside1, "metrics.json")).read() == '{"val_log_loss": 1.0}'
    assert open(os.path.join(aside2, "metrics.json")).read() == '{"val_log_loss": 2.0}'


# --- versioned configuration (item 5) ---

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pre_registry")


def _saved_config(tmp_path, drop=(), **changes):
    import json

    from lmsys.config import Config

    values = {**Config(sequence_length=64).to_dict(), **changes}
    for key in drop:
        values.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(values))
    return tmp_path


def test_a_config_missing_keys_is_an_error_naming_them(tmp_path):
    from lmsys.config import Config

    with pytest.raises(ValueError, match=r"config.json: missing configuration key\(s\) \['max_chars', "
                                         r"'sequence_length'\]"):
        Config.load(_saved_config(tmp_path, drop=("sequence_length", "max_chars")))


def test_keys_added_later_take_the_value_that_reproduces_the_old_behaviour(tmp_path):
    from lmsys.config import ADDED_LATER, CONFIG_VERSION, Config

    config = Config.load(_saved_config(tmp_path, drop=tuple(ADDED_LATER)))
    assert config.pad_each_option is False and config.compile_threads == 1 and config.config_version == 1
    assert config.sequence_length == 64
    assert Config().config_version == CONFIG_VERSION


def test_a_new_config_json_records_its_version(tmp_path):
    import json

    from lmsys.config import CONFIG_VERSION, Config

    Config().save(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["config_version"] == CONFIG_VERSION


def test_a_config_from_newer_code_is_refused(tmp_path):
    from lmsys.config import CONFIG_VERSION, Config

    with pytest.raises(ValueError, match="newer than this code reads"):
        Config.load(_saved_config(tmp_path, config_version=CONFIG_VERSION + 1))


def test_model_dirs_written_before_versioning_still_load():
    from lmsys.config import Config

    for name in ("siamese-tiny", "features"):
        config = Config.load(os.path.join(FIXTURES, name))
        assert config.config_version == 1
    assert Config.load(os.path.join(FIXTURES, "siamese-tiny")).sequence_length == 64


# --- corrupt or truncated model files (item 6) ---

@pytest.fixture(scope="module")
def sample_rows(tmp_path_factory):
    from lmsys.data.sample import write_sample

    d = tmp_path_factory.mktemp("sample")
    write_sample(d, n_train=30)
    return load_competition_csv(os.path.join(d, "test.csv")).head(4)


def _copy_model(tmp_path, name):
    import shutil

    target = tmp_path / name
    shutil.copytree(os.path.join(FIXTURES, name), target)
    return target


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _gen(model):
    return next(p for p in model.iterdir() if p.name.startswith("best-e"))


@pytest.mark.parametrize("damage, culprit", [
    (lambda m: _truncate(_gen(m) / "preset" / "model.weights.h5"), "model.weights.h5"),
    (lambda m: _truncate(_gen(m) / "head.weights.npz"), "head.weights.npz"),
    (lambda m: _truncate(m / "config.json"), "config.json"),
    (lambda m: _truncate(_gen(m) / "preset" / "config.json"), os.path.join("preset", "config.json")),
    (lambda m: (m / "config.json").write_text("[1, 2]"), "config.json"),
    (lambda m: (m / "model.json").write_text('{"generation": "best-e9-gone"}'), "model.json"),
])
def test_a_damaged_siamese_model_file_is_named_with_what_to_do(tmp_path, sample_rows, damage, culprit):
    from lmsys.models import predict_proba

    model = _copy_model(tmp_path, "siamese-tiny")
    damage(model)
    with pytest.raises(ValueError) as err:
        predict_proba(str(model), sample_rows, verbose=0)
    message = str(err.value)
    assert culprit in message and str(tmp_path) in message
    assert "retrain" in message and "re-download" in message


@pytest.mark.parametrize("name", ["model.txt", "tfidf.json"])
def test_a_damaged_features_model_file_is_named_with_what_to_do(tmp_path, sample_rows, name):
    from lmsys.models import predict_proba

    model = _copy_model(tmp_path, "features")
    _truncate(model / name, 0.3)
    with pytest.raises(ValueError, match=f"{name}: .*(corrupt|truncated).*retrain"):
        predict_proba(str(model), sample_rows, verbose=0)


def test_a_corrupt_preset_config_is_named_before_training(real_data, tmp_path):
    model = _earlier_run(tmp_path)
    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text('{"class_name": "DebertaV3Bac')
    with pytest.raises(ValueError, match=r"preset[/\\]config.json: unreadable.*re-download the preset"):
        _train_cli(data=REAL_TRAIN, out=str(model), preset=str(preset))
    _assert_untouched(model)


# --- written files: the umask's mode, no temporaries left behind (item 10) ---

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umasks_mode(tmp_path, umask, mode):
    import numpy as np

    from lmsys.atomic import write_json
    from lmsys.evaluate.submission import make_submission, write_submission

    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        ids = np.array([1, 2])
        write_submission(make_submission(ids, np.full((2, 3), 1 / 3)), tmp_path / "submission.csv", ids)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.json").st_mode & 0o777 == mode
    assert os.stat(tmp_path / "submission.csv").st_mode & 0o777 == mode


def test_a_temporary_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    import time

    from lmsys.atomic import write_text

    target = tmp_path / "submission.csv"
    stale = tmp_path / ".submission.csv.tmp.1a2b3c4d.csv"
    legacy = tmp_path / ".submission.csv.k3j_9x0q.csv"  # mkstemp's name, from before
    fresh = tmp_path / ".submission.csv.tmp.99999999.csv"  # may belong to a writer still running
    other = tmp_path / ".other.csv.tmp.1a2b3c4d.csv"
    for p in (stale, legacy, fresh, other):
        p.write_bytes(b"")
    old = time.time() - 120
    for p in (stale, legacy, other):
        os.utime(p, (old, old))
    write_text(target, "id\n")
    assert target.read_text() == "id\n"
    assert not stale.exists() and not legacy.exists()
    assert fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, fresh.name, other.name])


def test_a_killed_writer_leaves_a_recognisable_hidden_temporary(tmp_path):
    import signal
    import subprocess
    import sys

    code = ("import os, signal\nfrom lmsys.atomic import atomic_path\n"
            f"with atomic_path({str(tmp_path / 'submission.csv')!r}) as tmp:\n"
            "    open(tmp, 'w').write('partial')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".submission.csv.tmp.") and not (tmp_path / "submission.csv").exists()


# --- zips from elsewhere (item 11) ---

def _zip(path, members):
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_naming_the_zip(tmp_path):
    from lmsys.kaggle import KaggleError, safe_extract

    bomb = _zip(tmp_path / "bomb.zip", {"a.csv": b"\0" * (300 * 2 ** 20)})
    assert os.path.getsize(bomb) < 2 ** 20
    with pytest.raises(KaggleError, match="bomb.zip: would unpack to 314,572,800 bytes"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_zip_over_the_size_or_entry_limit_is_refused(tmp_path):
    from lmsys.kaggle import KaggleError, safe_extract

    archive = _zip(tmp_path / "m.zip", {f"f{i}.txt": b"x" * 100 for i in range(20)})
    with pytest.raises(KaggleError, match="m.zip: 20 entries, more than the 10 allowed"):
        safe_extract(archive, tmp_path / "out", max_entries=10)
    with pytest.raises(KaggleError, match="m.zip: would unpack to 2,000 bytes"):
        safe_extract(archive, tmp_path / "out", max_bytes=1000)
    safe_extract(archive, tmp_path / "out")
    assert len(os.listdir(tmp_path / "out")) == 20


def test_a_dot_slash_entry_is_allowed_and_slips_are_still_refused(tmp_path):
    from lmsys.kaggle import KaggleError, safe_extract

    archive = _zip(tmp_path / "ok.zip", {"./": b"", "./config.json": b"{}", "sub/a.txt": b"a"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "config.json").read_text() == "{}" and (tmp_path / "out" / "sub" / "a.txt").exists()
    for evil in ("../evil.txt", "/tmp/evil.txt", "./../evil.txt"):
        with pytest.raises(KaggleError, match="would be written outside"):
            safe_extract(_zip(tmp_path / "bad.zip", {evil: b"x"}), tmp_path / "out2")


def test_a_corrupt_zip_in_the_kernel_model_dir_is_named(tmp_path):
    from lmsys.kaggle.kernel_inputs import KernelInputError, find_model_dir

    model = tmp_path / "input" / "my-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"model_type": "siamese"}')
    good = _zip(tmp_path / "g.zip", {"config.json": b"{}" * 1000})
    (model / "best-e1-abc.zip").write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])  # truncated upload
    with pytest.raises(KernelInputError, match=r"best-e1-abc.zip: not a valid zip file, corrupt or truncated"):
        find_model_dir(tmp_path / "input", tmp_path / "work")


def test_submission_ids_near_the_int64_limit_are_compared_exactly(tmp_path):
    import numpy as np

    from lmsys.evaluate.submission import SubmissionError, make_submission, validate_submission

    test_ids = np.array([2 ** 63 - 1, 2 ** 63 - 3], dtype=np.int64)
    wrong = np.array([2 ** 63 - 2, 2 ** 63 - 3], dtype=np.int64)  # equal to test_ids as float64
    with pytest.raises(SubmissionError, match="row 0: id 9223372036854775806"):
        validate_submission(make_submission(wrong, np.full((2, 3), 1 / 3)), test_ids)
    validate_submission(make_submission(test_ids, np.full((2, 3), 1 / 3)), test_ids)


def test_a_killed_features_run_leaves_no_hidden_directory_after_the_next_run(real_data, tmp_path):
    import time

    from lmsys.gbm.model import train_features_model
    from lmsys.config import Config

    stale = tmp_path / ".features.tmp.abc123"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    old = time.time() - 120
    os.utime(stale, (old, old))
    extra = {"n_splits": 2, "inner_fold": 2, "max_rounds": 5, "num_threads": 1}
    train_features_model(Config(model_type="features", extra=extra), REAL_TRAIN, str(tmp_path / "features"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features"]
    assert os.stat(tmp_path / "features").st_mode & 0o777 == 0o777 & ~_current_umask()


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_killed_checkpoint_write_leaves_no_temporary_after_the_next_epoch(tmp_path):
    from lmsys.siamese.checkpoint import save_resume_state

    class Model:
        def save_weights(self, path):
            with open(path, "wb") as fh:
                fh.write(b"weights")

    class Tokenizer:
        def save_to_preset(self, directory):
            os.makedirs(directory)
            open(os.path.join(directory, "tokenizer.json"), "w").close()

    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    (ckpt / ".epoch-1.weights.h5.tmp.0badc0de.weights.h5").write_bytes(b"half")  # killed while writing epoch 1
    save_resume_state(str(tmp_path), Model(), Tokenizer(), {"epoch": 2})
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch-2.weights.h5", "state.json", "tokenizer"]


def test_a_misspelt_preset_name_is_named_before_the_model_dir_is_touched(real_data, tmp_path):
    model = _earlier_run(tmp_path)
    with pytest.raises(ValueError, match="--preset 'deberta_v3_extra_smal_en': not a keras-hub preset name"):
        _train_cli(data=REAL_TRAIN, out=str(model), preset="deberta_v3_extra_smal_en")
    _assert_untouched(model)
