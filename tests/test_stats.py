"""aecore.stats: Wilson intervals on known binomial cases, Student-t quantiles, a mean's interval over seeds."""

import math

import pytest

from aecore import stats


@pytest.mark.parametrize("k, n, low, high", [
    (0, 10, 0.0, 0.2775),      # the published 95 % Wilson intervals of 0, 5 and 10 of 10
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 10, 0.0179, 0.4042),
])
def test_wilson_interval_matches_published_values(k, n, low, high):
    assert stats.wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_narrows_with_n_and_widens_with_the_level():
    assert stats.wilson_interval(150, 300) == pytest.approx((0.4437, 0.5563), abs=1e-4)
    (a, b), (c, d) = stats.wilson_interval(5, 10, 0.9), stats.wilson_interval(5, 10, 0.99)
    assert b - a < 0.7634 - 0.2366 < d - c
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 10, level=95)


@pytest.mark.parametrize("p, df, expected", [(0.975, 1, 12.7062), (0.975, 4, 2.7764), (0.975, 9, 2.2622),
                                             (0.95, 5, 2.0150), (0.995, 30, 2.7500), (0.975, 1000, 1.9623)])
def test_t_quantile_matches_tables(p, df, expected):
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=1e-4)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-expected, abs=1e-4)


def test_mean_interval_over_a_seed_spread():
    changes = [1.0, 2.0, 3.0, 4.0, 5.0]  # e.g. one change in points per seed
    interval = stats.mean_interval(changes)
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert (interval.mean, interval.n) == (3.0, 5)
    assert (interval.low, interval.high) == pytest.approx((3 - half, 3 + half), abs=1e-5)
    assert interval.half_width == pytest.approx(half, abs=1e-5) and interval.excludes_zero()
    spread = stats.mean_interval([-1.0, 2.0, 1.0, -2.0])
    assert spread.mean == 0 and not spread.excludes_zero()
    assert stats.mean_interval([2.0, 2.0, 2.0]).half_width == 0
    with pytest.raises(ValueError):
        stats.mean_interval([1.0])


def test_interval_phrase_names_a_direction_only_when_the_interval_excludes_zero():
    assert stats.interval_phrase(stats.MeanInterval(6.2, 3.1, 9.3, 5)) == \
        "rises by 6.2 points (95 % interval 3.1 to 9.3)"
    assert stats.interval_phrase(stats.MeanInterval(-4.0, -7.2, -0.8, 5)) == \
        "falls by 4.0 points (95 % interval -7.2 to -0.8)"
    assert stats.interval_phrase(stats.MeanInterval(-2.0, -6.1, 2.1, 5)) == \
        "shows no clear change (-2.0 ± 4.1 points)"
    assert stats.interval_phrase(stats.MeanInterval(0.5, -1.0, 2.0, 5)) == \
        "shows no clear change (+0.5 ± 1.5 points)"
