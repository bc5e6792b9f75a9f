"""README's two fresh-machine commands must stay true: CI runs the second one."""

import re
from pathlib import Path


def _commands():
    text = Path("README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_an_install_and_run_command_and_an_install_and_test_command():
    run, test = _commands()[:2]
    assert "pip install" in run and "invoke train" in run
    assert "pip install" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    assert _commands()[1] in Path(".ci/run").read_text()
