"""Test-wide settings: the hypothesis profile used everywhere (CI included).

`deadline=None` because the first example of a property may pay one-off costs (building the
Lark parser, importing numba) that say nothing about the code under test. Set
HYPOTHESIS_MAX_EXAMPLES to search harder locally, e.g. HYPOTHESIS_MAX_EXAMPLES=2000.
"""

import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")))
settings.load_profile("ci")
