"""A point-cloud fit's verdict: good, doubtful or refused, from how well the fitted body explains the
points. Thresholds calibrated by ``scripts/calibrate_fit_verdicts.py`` on held-out real clouds (full,
partial, noisy) against clouds that are no person (a sphere, a box, a wall, noise, two people side by
side): ``docs/benchmarks/fit_verdicts.json``."""
from __future__ import annotations

import numpy as np

#: A point within this distance (m) of the fitted surface is explained by it.
INLIER_M = 0.02
#: Good: median residual at most GOOD_MM and at least GOOD_SHARE of the points explained; refused:
#: median above REFUSE_MM or under REFUSE_SHARE explained; doubtful in between.
GOOD_MM, GOOD_SHARE = 8.0, 0.85
REFUSE_MM, REFUSE_SHARE = 25.0, 0.6


def verdict(residual: np.ndarray) -> tuple[str, str, float]:
    """(verdict, reason, inlier share) of a fit from its points' distances (m) to the fitted surface."""
    median = float(np.median(residual)) * 1000
    share = float((residual <= INLIER_M).mean())
    said = f"median distance {median:.1f} mm, {share:.0%} of the points within {INLIER_M * 1000:.0f} mm"
    if median > REFUSE_MM or share < REFUSE_SHARE:
        return "refused", f"the body does not explain the cloud ({said}): is it one person?", share
    if median > GOOD_MM or share < GOOD_SHARE:
        return "doubtful", f"the body explains the cloud only in part ({said})", share
    return "good", said, share
