"""The on-disk kernel cache: a second process pays no JIT cost; bad entries are rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RULES = """
account fields { industry: category  employees: int  stack: set }
lead fields { title: text }
icp saas "SaaS" {
  score 3: employees > 50
  score 1: stack has "dbt"
  filter: industry == "software"
  persona vp "VP" { score 1: title like "vp*" }
}
"""

SCRIPT = r"""
import json, sys
import unstuck_dsl
from unstuck_dsl import kernel
rules = unstuck_dsl.compile(sys.argv[1])
accounts = [{"account_id": "a1", "industry": "software", "employees": 60, "stack": ["dbt"]}]
leads = [{"lead_id": "l1", "account_id": "a1", "title": "VP Sales"}]
result = rules.score(accounts, leads, as_of="2026-01-01")
kernels = rules._kernels[next(iter(rules._kernels))].module
stats = {name: {"hits": sum(fn.stats.cache_hits.values()), "misses": sum(fn.stats.cache_misses.values())}
         for name, fn in (("accounts", kernels.score_accounts), ("leads", kernels.score_leads))}
print(json.dumps({"scores": [result.accounts.column("icp_score")[0].as_py(),
                             result.leads.column("persona_score")[0].as_py()],
                  "stats": stats, "path": kernels.__file__}))
"""


def _run(tmp_path: Path, cache: Path) -> dict:
    rules = tmp_path / "rules.ust"
    rules.write_text(RULES)
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(rules)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """One cold process fills a fresh cache; returns the cache dir and what that process saw."""
    tmp_path = tmp_path_factory.mktemp("cache")
    cache = tmp_path / "kernels"
    return tmp_path, cache, _run(tmp_path, cache)


def test_cold_process_compiles_and_writes_the_cache_folder_from_the_env_var(warm_cache):
    tmp_path, cache, cold = warm_cache
    assert cold["scores"] == [100, 100]
    assert Path(cold["path"]).is_relative_to(cache)
    assert all(s["misses"] == 1 and s["hits"] == 0 for s in cold["stats"].values())


def test_second_process_loads_compiled_kernels_without_jit(warm_cache):
    tmp_path, cache, _ = warm_cache
    warm = _run(tmp_path, cache)
    assert warm["scores"] == [100, 100]
    assert all(s["hits"] == 1 and s["misses"] == 0 for s in warm["stats"].values())


# Loads the cached kernels of RULES (the warm cache's) as the API does, noting each collection of
# the cycle collector meanwhile, then how the collector was left.
COLLECTIONS_SCRIPT = r"""
import gc, json, sys
import unstuck_dsl
rules = unstuck_dsl.compile(sys.argv[1])
collections = []
gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)
rules.warm()
gc.callbacks.clear()
print(json.dumps({"collections": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def test_cached_kernels_load_without_a_collection_and_the_api_leaves_the_collector_as_it_was(warm_cache):
    """numba's start-up and the cached kernels make ~100,000 objects and no garbage: the cycle
    collector walked them some 300 times, twice in full (a fifth of an ingest's time). It is
    paused while they load, then left enabled (a young collection as it resumes), and the API
    sets nothing aside (the CLI does: test_cli_startup)."""
    tmp_path, cache, _ = warm_cache
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", COLLECTIONS_SCRIPT, str(tmp_path / "rules.ust")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["collections"] in ([], [0])
    assert (seen["enabled"], seen["frozen"]) == (True, 0)


def test_corrupt_entries_are_rebuilt_not_fatal(warm_cache):
    tmp_path, cache, cold = warm_cache
    module = Path(cold["path"])
    for index in module.parent.glob("__pycache__/*.nbi"):
        index.write_bytes(b"\x00garbage")
    for data in module.parent.glob("__pycache__/*.nbc"):
        data.write_bytes(b"not a pickle")
    assert _run(tmp_path, cache)["scores"] == [100, 100]
    module.write_text("this is not python (")
    assert _run(tmp_path, cache)["scores"] == [100, 100]


def test_a_link_to_nowhere_in_an_entrys_place_is_repaired_in_the_shared_cache(warm_cache):
    """An entry's folder replaced by a dangling link (a cache restored badly) is made again where
    it was: the kernels keep being shared, not compiled into a private folder on every run."""
    tmp_path, cache, cold = warm_cache
    entry = Path(cold["path"]).parent
    shutil.rmtree(entry)
    entry.symlink_to(tmp_path / "gone")
    rebuilt = _run(tmp_path, cache)
    assert rebuilt["scores"] == [100, 100]
    assert Path(rebuilt["path"]).parent == entry and entry.is_dir() and not entry.is_symlink()


def test_concurrent_processes_share_one_cache(tmp_path):
    rules = tmp_path / "rules.ust"
    rules.write_text(RULES.replace("employees > 50", "employees > 40"))
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(tmp_path / "shared"))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(rules)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr
        assert json.loads(stdout.strip().splitlines()[-1])["scores"] == [100, 100]
    assert _run(tmp_path, tmp_path / "shared")["stats"]["accounts"]["misses"] == 0


SIDE_BY_SIDE = r"""
import json, sys
import unstuck_dsl
from unstuck_dsl import execute, kernel, sample
started = []
compile = kernel.Compiler.compile
kernel.Compiler.compile = lambda self, module, name, args: started.append(name) or compile(self, module, name, args)
rules = unstuck_dsl.compile(sys.argv[1])
accounts, leads = sample.generate(400)
result = rules.score(accounts, leads, as_of="2026-11-26")
module = rules._kernels[next(iter(rules._kernels))]
stats = {name: {"hits": sum(fn.stats.cache_hits.values()), "misses": sum(fn.stats.cache_misses.values())}
         for name, fn in (("score_accounts", module.module.score_accounts), ("score_leads", module.module.score_leads))}
longer = max(stats, key=lambda name: execute.lines_of(module.source, name))
print(json.dumps({"started": started, "stats": stats, "longer": longer,
                  "accounts": result.accounts.select(["icp_code", "icp_score"]).to_pydict(),
                  "leads": result.leads.select(["persona_code", "persona_score"]).to_pydict()}))
"""


def test_a_new_large_rulesets_kernels_compile_side_by_side_and_score_the_same(tmp_path):
    """A ruleset new to the machine: the longer kernel compiles in a child process while this one
    compiles the other, and this process then loads the child's kernel from the cache. The scores
    equal those of kernels compiled the usual way."""
    from unstuck_dsl import pipeline, sample

    rules = Path(__file__).parents[1] / "rules"
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(tmp_path / "fresh"))
    out = subprocess.run([sys.executable, "-c", SIDE_BY_SIDE, str(rules)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    longer, shorter = seen["longer"], ({"score_accounts", "score_leads"} - {seen["longer"]}).pop()
    assert seen["started"] == [longer]
    assert seen["stats"][longer] == {"hits": 1, "misses": 0}  # the child compiled it
    assert seen["stats"][shorter] == {"hits": 0, "misses": 1}
    accounts, leads = sample.generate(400)
    usual = pipeline.compile_rules(str(rules)).score(accounts, leads, as_of="2026-11-26")
    assert seen["accounts"] == usual.accounts.select(["icp_code", "icp_score"]).to_pydict()
    assert seen["leads"] == usual.leads.select(["persona_code", "persona_score"]).to_pydict()


def test_a_compiler_child_closed_without_work_exits_cleanly():
    """A module new to the machine starts its compiler children before the kernels are asked
    for; when only one kernel is (the others never run), the children are closed and end."""
    from unstuck_dsl import kernel

    compiler = kernel.Compiler()
    compiler.close()
    assert compiler.wait() == 0


STEP_SIGNATURES = r"""
import json, sys
import unstuck_dsl
from unstuck_dsl import steps
rules = unstuck_dsl.compile(sys.argv[1])
accounts = [{"account_id": "a1", "industry": "software", "employees": 60, "stack": ["dbt", "c"]}]
leads = [{"lead_id": "l1", "account_id": "a1", "title": "VP Sales"}]
result = rules.score(accounts, leads, as_of="2026-01-01")
print(json.dumps({"score": result.accounts.column("icp_score")[0].as_py(),
                  "has_bits": len(steps.has_bits.signatures), "member": len(steps.member.signatures)}))
"""


def test_a_kernel_step_is_compiled_once_per_kind_of_test_not_once_per_test(tmp_path):
    """numba compiles a step once per value of each literal argument. Set tests and lists at
    other positions of the constants, with other lengths, share one compiled step each: a large
    ruleset does not compile a step per test (nor fill the package's numba cache with them)."""
    rules = tmp_path / "rules.ust"
    rules.write_text(RULES.replace('score 1: stack has "dbt"', 'score 1: stack has "dbt"\n'
                                   '  score 1: stack has any {"a", "b"}\n  score 1: stack has any {"c", "d", "e"}\n'
                                   '  score 1: employees in {1, 2, 3}\n  score 1: employees in {60, 70}'))
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(tmp_path / "fresh"))
    out = subprocess.run([sys.executable, "-c", STEP_SIGNATURES, str(rules)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"score": 75, "has_bits": 1, "member": 1}
