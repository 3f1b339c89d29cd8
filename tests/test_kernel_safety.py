"""A rule file can never run code: generated kernels hold no text from the rules (SPEC §8)."""

from __future__ import annotations

import itertools
import re

import pytest

import unstuck_dsl
from unstuck_dsl.reference import evaluate_account, evaluate_lead

PAYLOAD = "'); __import__('os').system('touch /tmp/unstuck-pwned') #"

HOSTILE = r'''
account fields {
  __import__: category
  os_system_pwned: text
  évil_ünïcode: open set
  eval: number
  exec: int
  __builtins__: date
  globals: bool
  breakpoint: ordinal("\"); import os #", "x\ny", "ünï")
}
lead fields { __class__: text  lambda_: category }
region évil_region "\"; os.system(\"rm -rf /\")" { US, GB }

icp __import__os "'); __import__('os').system('touch /tmp/unstuck-pwned') #" live {
  score 3 "\"\"\" + __import__('os').getcwd() + \"\"\"": __import__ == "'); __import__('os').system('touch /tmp/unstuck-pwned') #"
  score 2 "\n\t newline": os_system_pwned like "*\"); exec(\"1\") #*"
  score 4 "ünïcode ✓": évil_ünïcode has any {"'); import sys #", "Snowflake"}
  score 1: eval > 1000 or exec between -5 and 99999999999
  score 1: breakpoint >= "x\ny" and not globals
  filter "f" unknown passes: __import__ in évil_region or __builtins__ within 3 months
  exclude "e": os_system_pwned resembles {"'''+"'''"+r''' __import__('os')"}
  persona __class__ "\\\\x00" { score 2: __class__ == "{0.__class__}" filter: lambda_ != "); raise SystemExit #" }
}
'''


@pytest.fixture(scope="module")
def hostile():
    return unstuck_dsl.compile(HOSTILE)


NAMES = ["__import__", "os_system_pwned", "évil_ünïcode", "eval", "exec", "__builtins__", "globals",
         "breakpoint", "__class__", "lambda_", "évil_region", "__import__os"]


def test_generated_source_contains_no_rule_text(hostile):
    strings = [s for s in re.findall(r'"((?:[^"\\]|\\.)*)"', HOSTILE) if len(s) >= 3]
    assert len(strings) > 10
    for layouts, outcomes in itertools.product(({"évil_ünïcode": "bitset"}, {"évil_ünïcode": "csr"}), (False, True)):
        source = hostile.source(layouts, outcomes)
        compile(source, "<kernel>", "exec")
        for text in strings + NAMES + ["system", "import os", "pwned"]:
            assert text not in source, text
        assert source.isascii()


def test_kernel_source_depends_only_on_structure():
    """Renaming everything and changing every constant leaves the kernel source unchanged."""
    a = unstuck_dsl.compile('account fields { x: category n: number } '
                            'icp a "A" { score 2 "Name": x == "foo" filter: n > 10 }')
    b = unstuck_dsl.compile('account fields { evil_field: category m: number } '
                            'icp __import__ "\'); exec(1) #" { score 7 "Other": evil_field == "); exit() #" filter: m > -3.5 }')
    assert a.source({}) == b.source({})
    assert a.source({}, outcomes=True) == b.source({}, outcomes=True)


def test_hostile_rules_score_like_the_reference(hostile, tmp_path):
    import datetime as dt

    as_of = dt.date(2026, 11, 26)
    accounts = [
        {"account_id": "a1", "__import__": PAYLOAD, "os_system_pwned": 'x"); exec("1") #y',
         "évil_ünïcode": ["Snowflake"], "eval": 1e4, "exec": 7, "__builtins__": dt.date(2026, 10, 1),
         "globals": False, "breakpoint": "x\ny"},
        {"account_id": "a2", "__import__": "US", "os_system_pwned": None, "évil_ünïcode": None, "eval": None,
         "exec": None, "__builtins__": None, "globals": None, "breakpoint": None},
    ]
    leads = [{"lead_id": "l1", "account_id": "a1", "__class__": "{0.__class__}", "lambda_": "ok"}]
    result = hostile.score(accounts, leads, as_of=as_of)
    for i, account in enumerate(accounts):
        expected = evaluate_account(hostile.model, account, as_of)
        assert result.accounts.column("icp_code")[i].as_py() == expected.icp_code
        assert result.accounts.column("icp_score")[i].as_py() == expected.icp_score
    lead = evaluate_lead(hostile.model, leads[0], accounts[0], as_of)
    assert result.leads.column("persona_score")[0].as_py() == lead.persona_score == 100
    assert result.accounts.column("icp_score")[0].as_py() == 100
    import os

    assert not os.path.exists("/tmp/unstuck-pwned")
