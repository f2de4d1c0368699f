"""Pure: which of a shard's throttling refusals are a background, and which are overload.

What it does: a rate controller (`ratelimit.ShardLimiter`) cuts its share when a shard refuses
records for throughput. A shard may also refuse a steady fraction of records whatever this writer
does (a fault-injecting endpoint does; so does a shard that something else keeps overloading);
cutting for those again and again would take the writer down to nothing. `Refusals` tells the two
apart by the writer's own experiment, its cuts:
- An interval's refusals call for a cut (`overload`) only beyond the known `background`, by more
  than `noise` standard deviations (binomial); with no background, any refusal does. In slow
  start a fraction up to `slow_start_tolerance` does not, unless it grew as the share doubled: an
  overshoot of writers that doubled together is refused more, and more at every doubling, while
  a background stays as it is (and a new shard that left slow start at its first refusals would
  meet a background at a rate so low that telling it apart would take seconds).
- A cut that finds no series open starts one (`may_cut`); the cuts go on until they have taken
  the share to `lower` of what it was, and there the share holds while the refusals are watched
  (`watch`). If the refused fraction at the lower rate did not surely fall (a two-proportion
  z-test over `fell_z`, once `evidence` refusals would have shown had it stayed), the refusals
  are the background: `watch` says so and the controller finds its rate again by slow start.
  If they fell, they were overload and the cuts stand.
- A series also ends, its cuts standing, when `relieved` intervals in a row show no overload
  (counting only intervals where the old refusals would have shown), when the first cut alone
  went below `lower` (a fraction that high is overload), or when the cuts have not reached
  `lower` within `halve_within` intervals (a background refuses in every interval, so its cuts
  come in a row).
- A found background follows the refused fraction of the intervals without overload, slowly.
Overload by other writers falls away once they and this writer cut; a background stays. This is
the test TCP cannot make for random loss (and so collapses under it), made possible because a
writer here sees each interval's refused fraction.

What it leaves out: the share, its cuts and growth (`ratelimit.py`), clocks and randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BackgroundSettings:
    """How refusals are judged (see the module docstring)."""

    noise: float = 4.0
    """Refusals within this many standard deviations of the background are noise."""
    max_background: float = 0.1
    """A refused fraction above this is always overload, never background."""
    slow_start_tolerance: float = 0.1
    """In slow start, a refused fraction up to this is no overload, unless it more than doubled
    (beyond noise) since the last interval."""
    lower: float = 0.7
    """The share, as a part of what it was before a series of cuts, at which the series holds
    and its refusals are tested."""
    evidence: float = 10.0
    """Refusals that would have shown at the lower rate, had the fraction stayed, before the
    test is made."""
    fell_z: float = 2.0
    """Standard errors by which the refused fraction must fall for the cuts to have relieved
    the shard."""
    halve_within: int = 8
    """Intervals within which a series must reach `lower`, or it ends with its cuts standing."""
    relieved: int = 4
    """Intervals in a row without overload after which a series ends with its cuts standing..."""
    quiet_evidence: float = 3.0
    """...counting only intervals in which the refusals as they were would have numbered this
    many (so that their absence is not chance: e^-3, 5%)."""
    smoothing: float = 0.1
    """How fast a found background follows the refused fraction of intervals without overload."""


@dataclass(slots=True)
class _Series:
    """A series of cuts: the share before it, the interval that opened it, and the refusals
    seen after it, above and at the lower rate."""

    share: float
    opening: tuple[int, int]
    """(sent, throttled) of the interval whose refusals made the first cut."""
    above: list[int] = field(default_factory=lambda: [0, 0])
    """[sent, throttled] of the intervals after it while the share was above `lower`..."""
    below: list[int] = field(default_factory=lambda: [0, 0])
    """...and once it was at or below."""
    quiet: int = 0
    intervals: int = 0

    def lowered(self, share: float, settings: BackgroundSettings, min_share: float) -> bool:
        return share <= max(settings.lower * self.share, min_share)

    def before(self) -> tuple[int, int]:
        """(sent, throttled) from the first cut until the share reached `lower`."""
        return self.opening[0] + self.above[0], self.opening[1] + self.above[1]

    def verdict(self, settings: BackgroundSettings) -> float | None:
        """The refused fraction that stayed at the lower rate (the background), 0.0 if the
        refusals surely fell or are too many for a background, None while it cannot be told.

        The opening interval was chosen for its refusals, so "before" overstates them: a
        fraction that merely looks lower at the lower rate proves no relief, hence the z-test."""
        if not self.above[0]:
            return 0.0  # the first cut alone went that deep: refusals that many are overload
        sent, throttled = self.before()
        later_sent, later_throttled = self.below
        before = throttled / sent
        if before * later_sent < settings.evidence:
            return None
        after = later_throttled / later_sent
        pooled = (throttled + later_throttled) / (sent + later_sent)
        spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / sent + 1.0 / later_sent))
        if before - after > settings.fell_z * spread or after > settings.max_background:
            return 0.0
        return after


class Refusals:
    """One shard's background of refusals, and the series of cuts that tests for it."""

    __slots__ = ("_last_fraction", "_min_share", "_series", "_settings", "background")

    def __init__(self, settings: BackgroundSettings, min_share: float) -> None:
        self._settings = settings
        self._min_share = min_share
        self._series: _Series | None = None
        self._last_fraction: float | None = None
        """The refused fraction of the last interval in slow start."""
        self.background = 0.0
        """The fraction of records the shard refuses whatever this writer's rate (0: none)."""

    @property
    def testing(self) -> bool:
        """Whether a series of cuts is open."""
        return self._series is not None

    def overload(self, sent: int, throttled: int, *, slow_start: bool) -> float | None:
        """The refused fraction beyond the background that calls for a cut, or None."""
        s = self._settings
        expected = self.background * sent
        excess = throttled - expected
        last, self._last_fraction = self._last_fraction, None
        if slow_start:
            self._last_fraction = max(0.0, excess / sent)
            if excess <= s.slow_start_tolerance * sent and (
                last is None or excess <= 2.0 * last * sent + s.noise * math.sqrt(last * sent)
            ):
                return None  # a few refusals that do not grow as the share doubles: not overload
        if excess <= s.noise * math.sqrt(expected):
            return None
        return excess / sent

    def watch(self, sent: int, throttled: int, share: float, *, overload: bool) -> bool:
        """Count an interval sent at `share` into the open series, if any; True if it shows the
        refusals to be the background (now in `background`; the series has ended)."""
        series = self._series
        if series is None:
            return False
        s = self._settings
        before_sent, before_throttled = series.before()
        if overload:
            series.quiet = 0
        elif before_throttled / before_sent * sent >= s.quiet_evidence:
            series.quiet += 1  # refusals as before would have shown here: they fell away
        series.intervals += 1
        tally = series.below if series.lowered(share, s, self._min_share) else series.above
        tally[0] += sent
        tally[1] += throttled
        if series.quiet >= s.relieved or (
            not series.below[0] and series.intervals >= s.halve_within
        ):
            self._series = None  # relieved, or cuts that came now and then: they stand
            return False
        found = series.verdict(s)
        if found is None:
            return False
        self._series = None
        if not found:
            return False  # the refusals fell as the share was cut: overload, the cuts stand
        self.background = found
        return True

    def may_cut(self, sent: int, throttled: int, share: float) -> bool:
        """An interval with overload: start a series if none is open; whether to cut (not once
        the series has taken the share to `lower`: there it holds until the verdict)."""
        series = self._series
        if series is None:
            self._series = _Series(share, (sent, throttled))
            return True
        return not series.lowered(share, self._settings, self._min_share)

    def follow(self, sent: int, throttled: int) -> None:
        """An interval without overload: a found background follows its refused fraction."""
        if self.background:
            self.background += self._settings.smoothing * (throttled / sent - self.background)
