"""The Python API example in README.md runs and scores the seed's account at 85 in mm_saas."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_api_example_scores_the_seed_account(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    printed = out.getvalue()
    assert "[{'account_id': 'a1', 'icp_code': 'mm_saas', 'icp_score': 85, 'icp_band': 'strong'}]" in printed
    assert "17 / 20 normalizes to 85 / 100 on the ICP score field." in printed
    assert os.path.isdir(ROOT / "rules")


def _tour_commands(readme: str) -> list[str]:
    """The shell lines of the README's tour, as a user would type them (install steps left out:
    the test runs the installed `unstuck`)."""
    tour = readme.split("## A five-minute tour")[1].split("\n## ")[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", tour, re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command and not command.startswith(("make ", ". ")):
                lines.append(command)
    return lines


def test_readme_tour_runs_as_written(tmp_path):
    import shutil
    import subprocess
    import sys

    commands = _tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands[0].startswith("mkdir -p tour") and any(c.startswith("unstuck insights") for c in commands)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    script = "set -e\n" + "\n".join(commands) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tour = tmp_path / "tour"
    for name in ("scores.csv", "hot.csv", "engaged.csv", "preview.csv", "report.html", "unstuck.duckdb"):
        assert (tour / name).is_file(), name
    assert "17 / 20 normalizes to" in done.stdout or "normalizes to" in done.stdout
    assert "ok: 5 files" in done.stdout  # the rules and their tests
    assert not (ROOT / "tour").exists() or (ROOT / "tour").resolve() != tour.resolve()
