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
