"""When link scanners click, fitted to published measurements instead of a guessed constant.

The one public measurement of scanner timing we know of (putyourlightson/craft-campaign
issue #546, clicks by mail-security scanners logged across campaigns) reports that
scanner clicks arrive a **median 43 s** after sending and that **two thirds** of them
arrive **between 20 s and 60 s** after sending. Delays of automated systems are
positive and right-skewed, so we fit a log-normal distribution to those two figures:

* the median fixes mu = ln 43;
* sigma is the value for which P(20 s < T < 60 s) = 2/3, solved below by bisection
  (about 0.52).

From the fit Tune takes two bounds, recomputed here rather than typed in:

* `SCANNER_EARLIEST`: the 1st percentile (about 13 s). Before it, a hit is flagged
  on timing alone (`too_soon_after_delivery` for clicks, `too_soon_after_send` for
  opens): scanners already act that early, and a person seldom has the message in
  front of them yet.
* `SCANNER_LATEST`: the 99th percentile (about 144 s). Between the two bounds a click
  is within the scanner window: it counts as human only when a human open of the
  same email came before it (`scanner_window` otherwise). After it, timing says
  nothing and only the other rules apply.

Clicks in the window are also where bursts and the honeypot (tracking/bursts.py)
do most of their work.
"""

from __future__ import annotations

import math

PUBLISHED_MEDIAN_SECONDS = 43.0
PUBLISHED_RANGE_SECONDS = (20.0, 60.0)
PUBLISHED_RANGE_SHARE = 2 / 3


def _phi(x: float) -> float:
    """The standard normal cumulative distribution."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _fit_sigma(median: float, low: float, high: float, share: float) -> float:
    """The log-normal sigma for which P(low < T < high) = share, given the median."""
    mu = math.log(median)

    def covered(sigma: float) -> float:
        return _phi((math.log(high) - mu) / sigma) - _phi((math.log(low) - mu) / sigma)

    narrow, wide = 1e-3, 10.0  # covered() falls as sigma grows
    for _ in range(100):
        middle = (narrow + wide) / 2
        if covered(middle) > share:
            narrow = middle
        else:
            wide = middle
    return (narrow + wide) / 2


def _quantile(z: float) -> float:
    return math.exp(SCANNER_MU + z * SCANNER_SIGMA)


SCANNER_MU = math.log(PUBLISHED_MEDIAN_SECONDS)
SCANNER_SIGMA = _fit_sigma(
    PUBLISHED_MEDIAN_SECONDS, *PUBLISHED_RANGE_SECONDS, PUBLISHED_RANGE_SHARE
)
Z_01 = 2.3263478740408408
"""The standard normal's 99th percentile."""
SCANNER_EARLIEST = _quantile(-Z_01)
SCANNER_LATEST = _quantile(Z_01)


def scanner_share_before(seconds: float) -> float:
    """The fitted share of scanner clicks arriving within `seconds` of sending."""
    if seconds <= 0:
        return 0.0
    return _phi((math.log(seconds) - SCANNER_MU) / SCANNER_SIGMA)
