"""Compile limits: how long a cold compile of a very large ruleset takes, and how much memory.

    python benchmarks/compile_limits.py                     # the issue's targets: 2,000 / 500
    python benchmarks/compile_limits.py --params 1000 --icps 200 --members 300
    python benchmarks/compile_limits.py --at-limits          # also the largest rules `check` accepts

Each ruleset is compiled in a fresh process with an empty UNSTUCK_CACHE_DIR (so numba compiles
every kernel), then scored on a few records; the parent reports the child's wall time and peak
resident memory. Targets: each compile ≤ 30 s and ≤ 2 GB.

The ruleset generators are shared with tests/test_compile_limits.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FIELDS = """
account fields {
  industry: category
  employees: int
  revenue: number
  founded: date
  stack: open set
  tools: set
  public: bool
}
lead fields {
  title: text
  years: number
  level: int
  joined: date
  skills: set
}
"""

TARGET_SECONDS, TARGET_BYTES = 30, 2 * 1024 ** 3


def _account_condition(k: int) -> str:
    """One of several condition kinds over the account fields, varied by k."""
    return [
        f"employees > {k}",
        f"revenue between {k} and {k * 10 + 5}.5",
        f'industry == "ind{k % 50}"',
        f'stack has "tool{k % 200}"',
        f"founded before 20{k % 25 + 10:02d}-01-01",
        f'tools has any {{"t{k % 7}", "t{k % 11}"}}',
        f"employees in {{{k}, {k + 1}, {k + 2}}} or public",
    ][k % 7]


def _lead_condition(k: int) -> str:
    return [
        f"years >= {k % 30}",
        f'title like "*x{k % 40}*"',
        f"level between {k % 5} and {k % 5 + 3}",
        f'skills has "s{k % 30}"',
        f"joined within {k % 12 + 1} months",
    ][k % 5]


def _param(k: int, condition: str) -> str:
    """A score parameter; every 13th a filter (passing on unknown), every 17th an exclude."""
    if k % 13 == 5:
        return f'  filter "p{k}" unknown passes: {condition}\n'
    if k % 17 == 3:
        return f'  exclude "p{k}": {condition}\n'
    return f'  score {k % 9 + 1} "p{k}": {condition}\n'


def one_icp_with_params(n: int) -> str:
    """One live ICP with n parameters (and a Persona)."""
    body = "".join(_param(k, _account_condition(k)) for k in range(n))
    return FIELDS + f'icp big "Big" live {{\n{body}  persona p "P" {{ score 1: years > 3 }}\n}}\n'


def many_icps(n: int, drafts: int = 0, params: int = 4, persona_params: int = 3) -> str:
    """n live ICPs, then `drafts` draft ICPs, each with a few parameters and one Persona."""
    out = [FIELDS]
    for i in range(n + drafts):
        status = "live" if i < n else "draft"
        body = "".join(_param(i + k, _account_condition(i + k)) for k in range(params))
        persona = "".join(_param(i + k, _lead_condition(i + k)) for k in range(persona_params))
        out.append(f'icp i{i} "ICP {i}" {status} {{\n{body}  persona p "P" {{\n{persona}  }}\n}}\n')
    return "".join(out)


def long_lists(n: int, chains: bool = True) -> str:
    """Lists of n members: numbers and dates in `in {…}`, `has any` / `has all` with n items,
    text in `in {…}`; with `chains`, also an `or` and an `and` chain of n comparisons."""
    numbers = ", ".join(str(k * 3) for k in range(n))
    days = ", ".join(f"20{k % 30 + 10:02d}-{k % 12 + 1:02d}-{k % 28 + 1:02d}" for k in range(n))
    chains = (f'  score 3 "or chain": {" or ".join(f"revenue == {k * 7}" for k in range(n))}\n'
              f'  score 1 "and chain": {" and ".join(f"employees != {k}" for k in range(n))}\n') if chains else ""
    items = ", ".join(f'"tool{k}"' for k in range(n))
    words = ", ".join(f'"ind{k}"' for k in range(n))
    return FIELDS + f"""icp lists "Lists" live {{
  score 1 "numbers": employees in {{{numbers}}}
  score 2 "not numbers": employees not in {{{numbers}}}
  score 1 "dates": founded in {{{days}}}
{chains}  score 2 "any": stack has any {{{items}}}
  score 1 "all": tools has all {{{items}}}
  score 1 "words": industry in {{{words}}}
  persona p "P" {{ score 1: skills has any {{{items}}} }}
}}
"""


def many_fields(n: int) -> str:
    """An ICP reading n account fields and a Persona reading n lead fields, one parameter each."""
    kinds = {"int": "> 3", "number": "< 2.5", "category": '== "x"', "date": "before 2020-01-01", "set": 'has "y"'}
    types = list(kinds)
    accounts = " ".join(f"f{k}: {types[k % 5]}" for k in range(n))
    leads = " ".join(f"g{k}: {types[k % 5]}" for k in range(n))
    icp = "".join(f'  score 1 "p{k}": f{k} {kinds[types[k % 5]]}\n' for k in range(n))
    persona = "".join(f'    score 1 "q{k}": g{k} {kinds[types[k % 5]]}\n' for k in range(n))
    return (f"account fields {{ {accounts} }}\nlead fields {{ {leads} }}\n"
            f'icp wide "Wide" live {{\n{icp}  persona p "P" {{\n{persona}  }}\n}}\n')


CHILD = r"""
import json, resource, sys, time
start = time.perf_counter()
import unstuck_dsl
rules = unstuck_dsl.compile(sys.argv[1])
rules.warm()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def measure(text: str, timeout: float = 900) -> dict:
    """Cold compile of one ruleset in a fresh process: wall seconds and peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rules.ust")
        with open(path, "w") as out:
            out.write(text)
        # Fresh caches for the kernels and for the interpreter's own functions: nothing is reused.
        env = dict(os.environ, UNSTUCK_CACHE_DIR=os.path.join(folder, "cache"),
                   NUMBA_CACHE_DIR=os.path.join(folder, "numba"))
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True,
                              timeout=timeout)
        wall = time.perf_counter() - began
        if proc.returncode != 0:
            return {"ok": False, "wall_seconds": wall, "error": proc.stderr.strip().splitlines()[-1:]}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"ok": True, "wall_seconds": wall, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=2000, help="parameters in one ICP")
    parser.add_argument("--icps", type=int, default=500, help="live ICPs")
    parser.add_argument("--members", type=int, default=500, help="members of each long list")
    parser.add_argument("--at-limits", action="store_true",
                        help="also the largest rules `check` accepts: 100 fields read per record kind "
                             "(E070), about 19,500 conditions (E071)")
    args = parser.parse_args()
    cases = [(f"one ICP with {args.params} parameters", one_icp_with_params(args.params)),
             (f"{args.icps} live ICPs", many_icps(args.icps)),
             (f"lists of {args.members} members", long_lists(args.members))]
    if args.at_limits:
        cases += [("100 account + 100 lead fields read", many_fields(100)),
                  ("one ICP with 17,000 parameters", one_icp_with_params(17_000))]
    failed = False
    for name, text in cases:
        m = measure(text)
        if not m["ok"]:
            print(f"{name:36s} FAILED after {m['wall_seconds']:.1f} s: {m['error']}")
            failed = True
            continue
        within = m["wall_seconds"] <= TARGET_SECONDS and m["peak_bytes"] <= TARGET_BYTES
        failed |= not within
        print(f"{name:36s} {m['wall_seconds']:6.1f} s  {m['peak_bytes'] / 1024 ** 2:7.0f} MB  "
              f"{'ok' if within else 'OVER TARGET'}")
    print("all within targets" if not failed else "some over target")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
