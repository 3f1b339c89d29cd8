"""The deterministic sample data set: accounts and leads shaped like a real CRM export, for the
example workspace in rules/. `unstuck demo` scores a few thousand; benchmarks reuse it at scale.

Realistic on purpose: skewed industries and countries, about 30 technologies in open tech-stack
sets, titles in many spellings, 5–30 % nulls in every column, leads spread unevenly over
accounts, a few accounts with no leads and a few leads whose account is missing.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .dates import shift, to_days

INDUSTRIES = ["software", "saas", "financial services", "healthcare", "retail", "manufacturing", "banking",
              "insurance", "education", "media", "logistics", "energy"]
INDUSTRY_WEIGHTS = [30, 22, 8, 7, 6, 6, 5, 4, 4, 3, 3, 2]
COUNTRIES = ["US", "GB", "DE", "CA", "FR", "NL", "IN", "AU", "SE", "ES", "BR", "JP", "IE", "CH", "SG", "PL"]
COUNTRY_WEIGHTS = [40, 12, 8, 7, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 1]
TECHNOLOGIES = ["Snowflake", "Okta", "dbt", "Segment", "Salesforce", "HubSpot", "AWS", "GCP", "Azure", "Datadog",
                "Slack", "Zoom", "Stripe", "Twilio", "Looker", "Tableau", "Fivetran", "Airflow", "Kafka",
                "MongoDB", "Postgres", "Redis", "Auth0", "Workday", "Zendesk", "Intercom", "Marketo",
                "Outreach", "Gong", "Jira"]
FUNDING = ["Pre-seed", "Seed", "Series A", "Series B", "Series C", "Series D+", "Public"]
FUNDING_WEIGHTS = [8, 18, 22, 20, 14, 10, 8]
SENIORITY = ["IC", "Manager", "Director", "VP", "C-suite"]
FUNCTIONS = ["Sales", "Engineering", "Marketing", "Security", "RevOps", "Finance", "Exec", "Product"]
FUNCTION_WEIGHTS = [22, 24, 14, 8, 7, 6, 9, 10]
TITLES = {
    "Sales": ["VP Sales", "Vice President of Sales", "Head of Sales", "VP, Sales", "Sales Director",
              "Account Executive", "Sr. Account Executive", "SDR", "Sales Manager", "Chief Revenue Officer"],
    "Engineering": ["Software Engineer", "Senior Software Engineer", "Engineering Manager", "VP Engineering",
                    "CTO", "Head of Engineering", "Staff Engineer"],
    "Marketing": ["Marketing Manager", "VP Marketing", "Head of Growth", "CMO", "Demand Gen Manager"],
    "Security": ["CISO", "Security Engineer", "Head of Security", "Director of Security"],
    "RevOps": ["RevOps Manager", "Head of Revenue Operations", "Sales Ops Analyst"],
    "Finance": ["CFO", "Controller", "Finance Manager"],
    "Exec": ["Founder", "Co-founder", "Co-Founder & CEO", "CEO", "founder and ceo", "COO"],
    "Product": ["Product Manager", "VP Product", "Head of Product", "Senior Product Manager"],
}
SENIORITY_OF_WORD = [("chief", 4), ("ceo", 4), ("cto", 4), ("cfo", 4), ("cmo", 4), ("coo", 4), ("ciso", 4),
                     ("founder", 4), ("vp", 3), ("vice president", 3), ("head", 3), ("director", 2),
                     ("manager", 1)]


def _nulls(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def _pick(rng, values, weights, n) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(values), size=n, p=p / p.sum())


def _strings(values: list[str], index: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index, mask=null))


def generate(n_accounts: int, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 26)) -> tuple[pa.Table, pa.Table]:
    """Accounts and about 3 × as many leads, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    n = n_accounts
    account_ids = pa.array([f"A{i:08d}" for i in range(n)], pa.string())
    industry = _pick(rng, INDUSTRIES, INDUSTRY_WEIGHTS, n)
    # Financial companies run larger: the draft Enterprise FinServ ICP has accounts to preview.
    big = np.isin(industry, [INDUSTRIES.index(i) for i in ("financial services", "banking", "insurance")])
    employees = np.round(np.exp(rng.normal(4.6 + 2.0 * big, 1.6, n))).astype(np.int64) + 1
    arr = np.round(employees * np.exp(rng.normal(11.5, 0.7, n)), -3)
    country = _pick(rng, COUNTRIES, COUNTRY_WEIGHTS, n)
    funding = _pick(rng, FUNDING, FUNDING_WEIGHTS, n)
    ciso_days = rng.integers(0, 1500, n)
    hired = (np.datetime64(as_of) - ciso_days.astype("timedelta64[D]")).astype("datetime64[D]")
    competitor = rng.random(n) < 0.03

    # Tech stacks: each technology has its own popularity; enrichment detects presence only.
    popularity = np.linspace(0.45, 0.03, len(TECHNOLOGIES))
    has_tech = rng.random((n, len(TECHNOLOGIES))) < popularity
    counts = has_tech.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    tech_values = pa.array(TECHNOLOGIES, pa.string()).take(pa.array(np.nonzero(has_tech)[1]))
    stack_null = _nulls(rng, n, 0.2)
    tech_stack = pa.ListArray.from_arrays(pa.array(offsets), tech_values, mask=pa.array(stack_null))

    accounts = pa.table({
        "account_id": account_ids,
        "industry": _strings(INDUSTRIES, industry, _nulls(rng, n, 0.05)),
        "employees": pa.array(employees, mask=_nulls(rng, n, 0.08)),
        "arr_usd": pa.array(arr, mask=_nulls(rng, n, 0.30)),
        "country": _strings(COUNTRIES, country, _nulls(rng, n, 0.06)),
        "tech_stack": tech_stack,
        "funding_stage": _strings(FUNDING, funding, _nulls(rng, n, 0.15)),
        "hired_ciso_on": pa.array(hired, mask=_nulls(rng, n, 0.6) | (rng.random(n) < 0.1)),
        "is_competitor": pa.array(competitor, mask=_nulls(rng, n, 0.10)),
    })

    # Leads: a heavy-tailed number per account; some accounts have none, some leads no account.
    per_account = np.minimum(rng.geometric(0.28, n) - 1 + (rng.random(n) < 0.5), 40)
    per_account[rng.random(n) < 0.03] = 0
    owner = np.repeat(np.arange(n), per_account)
    m = len(owner)
    orphan = rng.random(m) < 0.01
    lead_account = account_ids.take(pa.array(owner)).to_numpy(zero_copy_only=False).astype(object)
    lead_account[orphan] = np.array([f"X{i:08d}" for i in np.flatnonzero(orphan)], dtype=object)
    function = _pick(rng, FUNCTIONS, FUNCTION_WEIGHTS, m)
    all_titles = [t for f in FUNCTIONS for t in TITLES[f]]
    title_seniority = np.array([next((level for word, level in SENIORITY_OF_WORD if word in t.lower()), 0)
                                for t in all_titles])
    counts = np.array([len(TITLES[f]) for f in FUNCTIONS])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    title = starts[function] + (rng.random(m) * counts[function]).astype(np.int64)
    seniority = title_seniority[title]
    experience = np.round(np.clip(rng.gamma(3.0, 3.5, m), 0, 45), 1)
    in_role = np.round(np.minimum(experience, rng.gamma(1.5, 1.6, m)), 1)
    leads = pa.table({
        "lead_id": pa.array([f"L{j:09d}" for j in range(m)], pa.string()),
        "account_id": pa.array(lead_account, pa.string()),
        "title": _strings(all_titles, title, _nulls(rng, m, 0.07)),
        "seniority": _strings(SENIORITY, seniority, _nulls(rng, m, 0.12)),
        "function": _strings(FUNCTIONS, function, _nulls(rng, m, 0.10)),
        "years_experience": pa.array(experience, mask=_nulls(rng, m, 0.25)),
        "years_in_role": pa.array(in_role, mask=_nulls(rng, m, 0.20)),
    })
    return accounts, leads


def write(directory, n_accounts: int, seed: int = 7, formats=("csv",)) -> dict[str, str]:
    """Write accounts and leads into `directory` in each format; returns the paths written.
    Values are written as generated (no CSV formula neutralising: the sample holds none)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from .files import replacing
    from .output import write_table

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    accounts, leads = generate(n_accounts, seed)
    written = {}
    for name, table in (("accounts", accounts), ("leads", leads)):
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            if fmt == "parquet":  # dictionary pages for every string column, ids too, as CRM exports have
                with replacing(path) as temporary:
                    pq.write_table(table, temporary)
            else:
                write_table(table, path, raw_csv=True)
            written[f"{name}.{fmt}"] = str(path)
    return written


# ---- signals and outcomes ----------------------------------------------------------------------

SIGNAL_TYPES = ("email_reply", "site_visit", "meeting", "demo_request")  # as in rules/icps.ust
SIGNAL_WEIGHTS = (3, 8, 1, 2)


def signals(leads: pa.Table, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 26)) -> pa.Table:
    """Engagement signals: a few per lead, of the example workspace's types, within ~4 months."""
    rng = np.random.default_rng(seed + 1)
    m = leads.num_rows
    counts = rng.poisson(0.9, m)
    owner = np.repeat(np.arange(m), counts)
    kinds = _pick(rng, SIGNAL_TYPES, SIGNAL_WEIGHTS, len(owner))
    ages = rng.integers(0, 120, len(owner))
    days = (np.datetime64(as_of) - ages.astype("timedelta64[D]")).astype("datetime64[D]")
    return pa.table({"lead_id": leads.column("lead_id").take(pa.array(owner)),
                     "signal": pa.array(SIGNAL_TYPES, pa.string()).take(pa.array(kinds)),
                     "timestamp": pa.array(days)})


# The planted truth `unstuck suggest` is tested against: how a lead's account changes its odds
# of replying, on top of the Persona score (logit scale; 0 is no effect). Effects differ by
# segment, as the example ICPs split software companies by size, so that no segment's effects
# leak into another ICP's parameters.
CISO_ODDS = 3.0  # mid-market: hired a CISO in the last 12 months triples the odds of a reply
MID_MARKET_EFFECTS = {"hired_ciso": math.log(CISO_ODDS),  # weight 8 of 20: too low, raise
                      "funding_series_b": 0.40,  # weight 4: about right
                      "snowflake": 0.18,  # weight 5: weaker than it says, lower
                      "okta": 0.0}  # weight 3: no effect at all, drop
SMB_EFFECTS = {"north_america": 0.40, "early_stage": 0.30, "modern_stack": 0.20, "some_revenue": 0.10}  # as weighted
LARGE_SOFTWARE_REPLY = 0.20  # software companies over 2,000 employees, which mm_saas filters out: reply well
UNFIT_REPLY = 0.02  # a lead no Persona fits


def planted_effects(accounts: pa.Table, leads: pa.Table, as_of: dt.date = dt.date(2026, 11, 26)):
    """Per lead (in `leads`' order): the log-odds its account adds to its odds of replying, and
    whether its account is a large software company (whose leads reply at LARGE_SOFTWARE_REPLY).
    A lead whose account is missing gets neither."""
    found = pc.index_in(leads.column("account_id"), value_set=accounts.column("account_id"))
    has_account = found.is_valid().to_numpy(zero_copy_only=False)
    row = found.fill_null(0).to_numpy(zero_copy_only=False)

    def per_lead(name: str, fill) -> np.ndarray:
        return np.asarray(accounts.column(name).fill_null(fill).to_numpy(zero_copy_only=False))[row]

    def stack_has(*techs: str) -> np.ndarray:
        return np.array([any(t in (stack or ()) for t in techs) for stack in accounts.column("tech_stack").to_pylist()])[row]

    employees = per_lead("employees", -1)
    software = np.isin(per_lead("industry", ""), ["software", "saas"]) & has_account
    funding = np.array([-1 if v is None else FUNDING.index(v) for v in accounts.column("funding_stage").to_pylist()])[row]
    hired = accounts.column("hired_ciso_on").cast(pa.int32()).fill_null(np.iinfo(np.int32).min)
    hired = hired.to_numpy(zero_copy_only=False)[row]
    facts = {"hired_ciso": (hired >= to_days(shift(as_of, -12, "month"))) & (hired <= to_days(as_of)),
             "funding_series_b": funding >= FUNDING.index("Series B"),
             "snowflake": stack_has("Snowflake"), "okta": stack_has("Okta"),
             "north_america": np.isin(per_lead("country", ""), ["US", "CA"]),
             "early_stage": (funding >= FUNDING.index("Seed")) & (funding <= FUNDING.index("Series A")),
             "modern_stack": stack_has("Snowflake", "dbt", "Segment"),
             "some_revenue": per_lead("arr_usd", -1) >= 1_000_000}
    log_odds = np.zeros(leads.num_rows)
    for effects, segment in ((MID_MARKET_EFFECTS, software & (employees >= 51) & (employees <= 2000)),
                             (SMB_EFFECTS, software & (employees >= 1) & (employees <= 50))):
        added = sum(effect * (facts[fact] & segment) for fact, effect in effects.items())
        # Centred on the segment's average: the effects move replies between its accounts, not the
        # segment's overall rate (so the Persona score's jump at 60 stands out as much as ever).
        log_odds += np.where(segment, added - added[segment].mean(), 0.0) if segment.any() else 0.0
    return log_odds, software & (employees > 2000)


def outcomes(scored_leads: pa.Table, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 26),
             accounts: pa.Table | None = None, leads: pa.Table | None = None) -> pa.Table:
    """Outcomes in which the reply rate rises with the Persona score and jumps at 60 (what
    `unstuck insights` should find): replied, then some meetings, then some signups. Every
    lead that replied was contacted, and half the others: the reply rate per contacted lead
    jumps at 60 too. Given the `accounts` and `leads` that were scored (in the same lead
    order), the account effects above are planted too (what `unstuck suggest` should find)."""
    rng = np.random.default_rng(seed + 2)
    score = scored_leads.column("persona_score").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    p = np.where(score < 0, UNFIT_REPLY, 0.03 + 0.0012 * score + 0.22 * (score >= 60))
    if accounts is not None and leads is not None:
        log_odds, large = planted_effects(accounts, leads, as_of)
        p = np.where(large, LARGE_SOFTWARE_REPLY, 1 / (1 + (1 - p) / p * np.exp(-log_odds)))
    replied = rng.random(len(score)) < p
    meeting = replied & (rng.random(len(score)) < 0.35)
    signup = meeting & (rng.random(len(score)) < 0.3)
    contacted = replied | (np.random.default_rng(seed + 3).random(len(score)) < 0.5)
    ids = scored_leads.column("lead_id")
    parts = []
    for name, mask in (("replied", replied), ("meeting", meeting), ("signup", signup), ("contacted", contacted)):
        rows = np.flatnonzero(mask)
        days = (np.datetime64(as_of) - rng.integers(0, 60, len(rows)).astype("timedelta64[D]")).astype("datetime64[D]")
        parts.append(pa.table({"lead_id": ids.take(pa.array(rows)), "outcome": pa.array([name] * len(rows), pa.string()),
                               "timestamp": pa.array(days)}))
    return pa.concat_tables(parts)
