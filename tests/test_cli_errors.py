"""The command line (issue 13, item 12; item 9's full disk): every bad input ends in one line naming the flag,
file or row, pointing at the task's --help, exit status 1; the traceback only with --debug / LMSYS_DEBUG=1.
The tasks run in-process through invoke's own parser (tasks.py as the namespace); the `slow` ones run the
`invoke` command itself."""

import errno
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from conftest import REAL_TEST_PATH as REAL_TEST, REAL_TRAIN_PATH as REAL_TRAIN


def run_invoke(argv, capsys, monkeypatch):
    """Run `invoke ARGV` in-process; return (exit code, stdout, stderr)."""
    from invoke import Collection, Program

    import tasks

    monkeypatch.delenv("LMSYS_DEBUG", raising=False)
    monkeypatch.delenv("INVOKE_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["invoke", *argv])
    monkeypatch.setattr("lmsys.cli_errors._run_by_invoke", lambda: False)  # no os._exit inside pytest
    program = Program(namespace=Collection.from_module(tasks), version="test")
    code = 0
    try:
        program.run(["invoke", *argv], exit=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _error_line(err):
    """The one error line, which ends stderr (progress bars before it are fine), and no traceback."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line, got: {err!r}"
    assert "Traceback" not in err
    return errors[0]


def test_epochs_one_names_the_flag(real_data, capsys, monkeypatch, tmp_path):
    code, _, err = run_invoke(["train", "--data", REAL_TRAIN, "--out", str(tmp_path / "m"), "--epochs", "one"],
                              capsys, monkeypatch)
    assert code == 1
    assert _error_line(err) == "error: --epochs: expected an integer, got 'one' (see invoke --help train)"


def test_a_missing_data_file_is_one_line_naming_it(capsys, monkeypatch, tmp_path):
    code, _, err = run_invoke(["train", "--data", "typo.csv", "--out", str(tmp_path / "m")], capsys, monkeypatch)
    assert code == 1 and _error_line(err) == "error: --data typo.csv: no such file (see invoke --help train)"


def test_a_bad_row_is_one_line_naming_the_row(capsys, monkeypatch, tmp_path):
    bad = tmp_path / "test.csv"
    bad.write_text('id,prompt,response_a,response_b\n1,"[""p""]","[""a""]","[""b""]"\n2.5,"[""p""]","[""a""]","[""b""]"\n')
    code, _, err = run_invoke(["validate", "--submission", str(tmp_path / "s.csv"), "--data", str(bad)],
                              capsys, monkeypatch)
    line = _error_line(err)
    assert code == 1 and "row id #2 ('2.5')" in line and line.endswith("(see invoke --help validate)")


def test_the_traceback_is_shown_with_lmsys_debug(capsys, monkeypatch, tmp_path):
    from lmsys.cli_errors import cli_errors

    monkeypatch.setenv("LMSYS_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        with cli_errors("train"):
            raise FileNotFoundError("x.csv: no such file")
    monkeypatch.setenv("LMSYS_DEBUG", "0")
    with pytest.raises(SystemExit):
        with cli_errors("train"):
            raise FileNotFoundError("x.csv: no such file")
    assert capsys.readouterr().err == "error: x.csv: no such file (see invoke --help train)\n"


def test_an_unknown_family_names_the_known_ones(real_data, capsys, monkeypatch, tmp_path):
    code, _, err = run_invoke(["train", "--family", "gpt", "--data", REAL_TRAIN], capsys, monkeypatch)
    assert code == 1 and "unknown model type 'gpt'; known: siamese, features" in _error_line(err)


def test_train_takes_family_and_keeps_model_as_its_old_spelling(capsys, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("lmsys.train.run_from_cli", lambda **kw: calls.append(kw["model_type"]))
    for argv in (["--family", "features"], ["--model", "features"], []):
        assert run_invoke(["train", *argv], capsys, monkeypatch)[0] == 0
    assert calls == ["features", "features", "siamese"]
    code, _, err = run_invoke(["train", "--family", "features", "--model", "siamese"], capsys, monkeypatch)
    assert code == 1 and "--model is the old spelling of --family" in _error_line(err)


def test_every_train_option_has_help_with_its_default(capsys, monkeypatch):
    import importlib
    import inspect

    import tasks

    tasks = importlib.reload(tasks)  # invoke's parser consumes Task.help; a fresh module has it whole
    params = [p for p in inspect.signature(tasks.train.body).parameters if p != "c"]
    for name in params:
        text = tasks.train.help.get(name, "")
        assert text, f"--{name} has no help text"
        assert "default" in text or name in ("model", "set"), f"--{name}'s help names no default: {text!r}"
    code, out, _ = run_invoke(["--help", "train"], capsys, monkeypatch)
    assert code == 0 and "--family" in out and "default: 42" in out


def test_submit_poll_takes_a_fraction_and_names_a_bad_value(capsys, monkeypatch):
    got = {}
    monkeypatch.setattr("lmsys.kaggle.workflows.submit", lambda **kw: got.update(kw))
    assert run_invoke(["submit", "--poll", "0.5", "--kernel-timeout", "0.25"], capsys, monkeypatch)[0] == 0
    assert got["poll_s"] == 0.5 and got["kernel_timeout_s"] == 900.0
    assert run_invoke(["submit"], capsys, monkeypatch)[0] == 0
    assert got["poll_s"] == 60.0 and got["kernel_timeout_s"] == 9.5 * 3600
    code, _, err = run_invoke(["submit", "--poll", "soon"], capsys, monkeypatch)
    assert code == 1 and _error_line(err) == "error: --poll: expected a number, got 'soon' (see invoke --help submit)"


def test_invoke_test_runs_the_projects_own_python(monkeypatch):
    from invoke import Context

    import tasks

    ran = []
    monkeypatch.setattr(Context, "run", lambda self, cmd, **kw: ran.append(cmd))
    tasks.test(Context())
    assert ran and ran[0].startswith(sys.executable + " -m pytest")


def test_predict_tta_names_the_flag(real_data, capsys, monkeypatch, tmp_path):
    code, _, err = run_invoke(["predict", "--model", str(tmp_path), "--data", REAL_TEST, "--tta", "sure"],
                              capsys, monkeypatch)
    assert code == 1 and _error_line(err).startswith("error: --tta: expected true or false, got 'sure'")


def test_a_kaggle_error_keeps_the_same_one_line_form(capsys, monkeypatch):
    from lmsys.kaggle import KaggleError

    def fail(**kw):
        raise KaggleError("`kaggle kernels push` failed: Kernel push error: quota")

    monkeypatch.setattr("lmsys.kaggle.workflows.submit", fail)
    code, _, err = run_invoke(["submit"], capsys, monkeypatch)
    assert code == 1 and _error_line(err) == ("error: `kaggle kernels push` failed: Kernel push error: quota "
                                              "(see invoke --help submit)")


# --- a full disk during training (item 9) ---

def test_a_full_disk_during_training_stops_with_one_line_naming_the_directory(real_data, capsys, monkeypatch, tmp_path):
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 1:  # config.json goes through; the next file finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "features"
    code, _, err = run_invoke(["train", "--family", "features", "--data", REAL_TRAIN, "--out", str(out),
                               "--set", 'extra={"n_splits": 2, "inner_fold": 2, "max_rounds": 5, "num_threads": 1}'],
                              capsys, monkeypatch)
    line = _error_line(err)
    assert code == 1 and calls["n"] > 1
    assert line.startswith(f"error: no space left on the device holding {out} while training")
    assert not out.exists()  # the features model appears whole or not at all


def test_disk_full_is_found_through_wrapping_errors():
    from lmsys.cli_errors import is_disk_full

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("Unable to synchronously create dataset") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full(OSError("Unable to create file (file write failed: errno = 28, error message = ...)"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


@pytest.mark.slow
def test_the_invoke_command_prints_one_line_and_exits_1(real_data, tmp_path):
    invoke = os.path.join(os.path.dirname(sys.executable), "invoke")
    env = {**os.environ, "PYTHONPATH": REPO}
    env.pop("LMSYS_DEBUG", None)
    proc = subprocess.run([invoke, "train", "--data", REAL_TRAIN, "--out", str(tmp_path / "m"), "--epochs", "one"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: --epochs: expected an integer, got 'one' (see invoke --help train)"
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([invoke, "--debug", "train", "--data", "typo.csv"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "typo.csv: no such file" in proc.stderr


# --- invoke blend without --model (item 12) ---

def _val_dir(root, name, ids, seed, age_s=0):
    import time

    import numpy as np

    from lmsys.config import Config
    from lmsys.run_dir import write_val_predictions

    d = root / name
    d.mkdir(parents=True)
    Config(model_type="features").save(d)
    rng = np.random.default_rng(seed)
    path = write_val_predictions(d, ids, rng.dirichlet(np.ones(3), len(ids)), rng.integers(0, 3, len(ids)) * 0)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return str(d)


def test_blend_without_model_picks_the_dirs_that_share_validation_rows_and_names_the_rest(tmp_path, capsys):
    import numpy as np

    from lmsys.evaluate.blend import sharing_group

    real_a = _val_dir(tmp_path, "real-a", np.arange(100, 200), 0, age_s=30)
    real_b = _val_dir(tmp_path, "real-b", np.arange(150, 400), 1, age_s=20)
    sample = _val_dir(tmp_path, "sample", np.arange(0, 50), 2, age_s=10)  # the README's default run
    chosen, left = sharing_group([real_a, real_b, sample], first=real_b)
    assert sorted(chosen) == [real_a, real_b] and left == [sample]
    chosen, left = sharing_group([real_a, real_b, sample])  # no LAST: the newest one's group
    assert chosen == [sample] and sorted(left) == [real_a, real_b]


def test_invoke_blend_without_model_blends_the_group_of_the_last_model(real_data, tmp_path, capsys, monkeypatch):
    import numpy as np

    import lmsys.paths

    monkeypatch.chdir(tmp_path)
    models = tmp_path / "models"
    a = _val_dir(models, "real-a", np.arange(100, 200), 0)
    b = _val_dir(models, "real-b", np.arange(150, 400), 1)
    _val_dir(models, "siamese-tiny", np.arange(0, 50), 2)
    (models / "LAST").write_text(os.path.abspath(b) + "\n")
    used = {}

    def fake_blend(dirs, test_csv, out, temperature=True):
        used["dirs"] = list(dirs)

    monkeypatch.setattr("lmsys.evaluate.blend.blend", fake_blend)
    assert lmsys.paths.LAST_MODEL_FILE == os.path.join("models", "LAST")
    code, out, err = run_invoke(["blend", "--data", os.path.join(REPO, REAL_TEST)], capsys, monkeypatch)
    assert code == 0, err
    assert sorted(map(os.path.basename, used["dirs"])) == ["real-a", "real-b"]
    assert "left out models/siamese-tiny" in out and "--model" in out


@pytest.mark.slow
def test_a_real_full_disk_during_siamese_training_ends_in_one_line_not_a_crash(real_data, tmp_path):
    """A 3 MB tmpfs as the output: the first best model fits, the resume checkpoint does not (needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        invoke = os.path.join(os.path.dirname(sys.executable), "invoke")
        env = {**os.environ, "PYTHONPATH": REPO, "KERAS_BACKEND": "jax"}
        env.pop("LMSYS_DEBUG", None)
        proc = subprocess.run([invoke, "train", "--data", REAL_TRAIN, "--out", str(disk / "m"), "--epochs", "1",
                               "--sequence-length", "64", "--set", "max_chars=1000"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert _error_line(proc.stderr).startswith(f"error: no space left on the device holding {disk / 'm'}")
        assert not [n for n in os.listdir(disk / "m") if ".tmp." in n]
    finally:
        subprocess.run(["umount", str(disk)])
