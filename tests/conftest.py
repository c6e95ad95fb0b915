"""Shared test settings: a modest hypothesis profile so `make test` stays fast on 2 cores.

The "ci" profile (the default) is derandomized: every run draws the same examples, so a red
CI run can be reproduced exactly and a green one is not luck. HYPOTHESIS_PROFILE=thorough
explores fresh random examples, many more of them.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
