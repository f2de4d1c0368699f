"""Pure: which of a shard's throttling refusals are a background, and which are overload.

What it does: a rate controller (`ratelimit.ShardLimiter`) cuts its share when a shard refuses
records for throughput. A shard may also refuse a steady fraction of records whatever this writer
does (a fault-injecting endpoint does; so does a shard that something else keeps overloading);
cutting for those again and again would take the writer down to nothing. `Refusals` tells the two
apart by the writer's own experiment, its cuts:
- An interval's refusals call for a cut (`overload`) only beyond the known `background`, by more
  than `noise` standard deviations (binomial); with no background, any refusal does. In slow
  start a fraction up to `slow_start_tolerance` (give or take `slow_start_noise` standard
  deviations) does not, unless it grew as the share doubled: an overshoot of writers that
  doubled together is refused more, and more at every doubling, while a background stays as it
  is (and a new shard that left slow start at its first refusals would meet a background at a
  rate so low that telling it apart would take seconds).
- A cut that finds no series open starts one (`may_cut`); the cuts go on until they have taken
  the share to `lower` of what it was, and from then on no further cut is made while the
  refusals are watched (`watch`). The refusals are the background if at the lower rate their
  fraction did not surely fall (a two-proportion z-test over `fell_z`, once `evidence` refusals
  would have shown had it stayed), is at most `max_background`, and varies from interval to
  interval no more than a steady probability's would (index of dispersion at most
  `max_dispersion`: other writers' overload comes in waves, with their cuts and probing). Then
  `watch` says so and the controller finds its rate again by slow start; if that slow start
  meets overload again before the rate the cuts began at, the refusals were not a background
  after all, and the one before is restored.
- A series also ends, its cuts standing, when `relieved` intervals in a row show no overload
  (counting only intervals where the old refusals would have shown), when the first cut alone
  went below `lower` for a fraction above `max_background`, or when the cuts have not reached
  `lower` within `halve_within` intervals (a background refuses in every interval, so its cuts
  come in a row).
- A found background follows the refused fraction of the intervals without overload, slowly,
  never above `max_background`; when the refusals stop, it fades.
Overload by other writers falls away once they and this writer cut; a background stays. This is
the test TCP cannot make for random loss (and so collapses under it), made possible because a
writer here sees each interval's refused fraction. Its limit: a writer that carries a small part
of a shard's load (8 or more writers on one shard) cannot see its own cuts relieve the shard, and
then takes some of the others' overload for a background (see RELIABILITY.md for how much).

What it leaves out: the share, its cuts and growth (`ratelimit.py`), clocks and randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True, slots=True)
class BackgroundSettings:
    """How refusals are judged (see the module docstring)."""

    noise: float = 4.0
    """Refusals within this many standard deviations of the background are noise."""
    max_background: float = 0.15
    """A refused fraction above this is always overload, never background."""
    slow_start_tolerance: float = 0.1
    """In slow start, a refused fraction up to this is no overload, unless it grew by half (and
    `growth_noise` standard deviations) since the last interval: a writer that joins a full
    shard sees the fraction about double with each doubling of its rate, a background stays."""
    slow_start_noise: float = 1.0
    """...nor a fraction above it by up to this many standard deviations (binomial, at the
    tolerance): of many shards in slow start at once, a few meet an unlucky interval of a
    background, and one cut there leaves a shard at a rate so low that finding the background
    takes seconds, holding back the writer's other shards meanwhile."""
    growth_noise: float = 3.0
    """Standard deviations by which a slow start's refused fraction must exceed half again the
    last interval's to count as growing (many shards test this at once, each interval)."""
    lower: float = 0.7
    """The share, as a part of what it was before a series of cuts, at which the series holds
    and its refusals are tested."""
    evidence: float = 10.0
    """Refusals that would have shown at the lower rate, had the fraction stayed, before the
    test is made."""
    fell_z: float = 2.0
    """Standard errors by which the refused fraction must fall for the cuts to have relieved
    the shard."""
    max_dispersion: float = 4.0
    """A background refuses each record with one steady probability, so its refusals per
    interval vary as a binomial's do (index of dispersion about 1); beyond this they are
    other writers' overload, coming and going with their cuts."""
    halve_within: int = 8
    """Intervals within which a series must reach `lower`, or it ends with its cuts standing."""
    relieved: int = 4
    """Intervals in a row without overload after which a series ends with its cuts standing..."""
    quiet_evidence: float = 3.0
    """...counting only intervals in which the refusals as they were would have numbered this
    many (so that their absence is not chance: e^-3, 5%). In slow start, refusals after an
    interval without any are growth only if that interval would have had this many at their
    fraction."""
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
    low: bool = False
    spread: list[tuple[int, int]] = field(default_factory=list)
    """(sent, throttled) of every interval after the opening one, for the dispersion test."""

    def lowered(self, share: float, settings: BackgroundSettings, min_share: float) -> bool:
        """Whether the cuts have taken the share to `lower` (from then on the series counts
        every interval as at the lower rate, though the share may creep up meanwhile)."""
        self.low = self.low or share <= max(settings.lower * self.share, min_share)
        return self.low

    def before(self) -> tuple[int, int]:
        """(sent, throttled) from the first cut until the share reached `lower`."""
        return self.opening[0] + self.above[0], self.opening[1] + self.above[1]

    def verdict(self, settings: BackgroundSettings) -> float | None:
        """The refused fraction that stayed at the lower rate (the background), 0.0 if the
        refusals surely fell or are too many for a background, None while it cannot be told.

        The opening interval was chosen for its refusals, so "before" overstates them: a
        fraction that merely looks lower at the lower rate proves no relief, hence the z-test."""
        sent, throttled = self.before()
        if not self.above[0] and throttled / sent > settings.max_background:
            return 0.0  # the first cut alone went that deep, for more than any background
        later_sent, later_throttled = self.below
        before = throttled / sent
        if before * later_sent < settings.evidence:
            return None
        after = later_throttled / later_sent
        pooled = (throttled + later_throttled) / (sent + later_sent)
        spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / sent + 1.0 / later_sent))
        if before - after > settings.fell_z * spread or after > settings.max_background:
            return 0.0
        if len(self.spread) < _MIN_SPREAD:
            return None  # too few intervals yet to tell a steady probability from waves
        if self.dispersion() > settings.max_dispersion:
            return 0.0  # refusals that come and go as other writers cut and probe: overload
        return after

    def dispersion(self) -> float:
        """The index of dispersion of the refusals per interval after the opening one: about 1
        if each record is refused with one steady probability (a background), far more if the
        refusals come in waves (other writers' cuts and probing)."""
        sent = sum(n for n, _ in self.spread)
        refused = sum(t for _, t in self.spread)
        if not refused or refused == sent:
            return 0.0
        p = refused / sent
        chi2 = sum((t - p * n) ** 2 / (p * (1.0 - p) * n) for n, t in self.spread if n)
        return chi2 / (len(self.spread) - 1)


_GROWTH: Final = 1.5
"""In slow start, a refused fraction this many times the last interval's has grown (an overshoot
about doubles it with each doubling of the rate; a background keeps it)."""


def _grew(
    last: tuple[int, float] | None, sent: int, fraction: float, noise: float, evidence: float
) -> bool:
    """Whether a refused `fraction` of `sent` records grew past `_GROWTH` times the `last`
    interval's (sent, fraction), by more than `noise` standard errors of the difference (both
    fractions are estimates: its variance is taken as p (1/sent + G^2/last_sent), p pooled,
    a little above the binomial's p (1 - p) (...)). After an interval without refusals, the
    fraction grew if at this fraction that interval would have had `evidence` refusals (their
    absence then is no chance: e^-3 is 5%)."""
    if last is None:
        return False
    last_sent, last_fraction = last
    if not last_fraction:
        return fraction * last_sent >= evidence
    pooled = (fraction * sent + last_fraction * last_sent) / (sent + last_sent)
    spread = math.sqrt(pooled * (1.0 / sent + _GROWTH**2 / last_sent))
    return fraction - _GROWTH * last_fraction > noise * spread


_MIN_SPREAD: Final = 3
"""Intervals after the opening one a background verdict needs at least (for the dispersion)."""


class Refusals:
    """One shard's background of refusals, and the series of cuts that tests for it."""

    __slots__ = ("_last", "_min_share", "_probe", "_series", "_settings", "background")

    def __init__(self, settings: BackgroundSettings, min_share: float) -> None:
        self._settings = settings
        self._min_share = min_share
        self._series: _Series | None = None
        self._probe: tuple[float, float] | None = None
        """(the background before, the share the series began at) while the share finds its
        way back up after a background was found: overload on the way means it was not one."""
        self._last: tuple[int, float] | None = None
        """(sent, refused fraction beyond the background) of the last interval in slow start."""
        self.background = 0.0
        """The fraction of records the shard refuses whatever this writer's rate (0: none)."""

    @property
    def testing(self) -> bool:
        """Whether a series of cuts is open."""
        return self._series is not None

    def overload(self, sent: int, throttled: int, *, slow_start: bool) -> float | None:
        """The refused fraction beyond the background that calls for a cut, or None."""
        if not sent:
            return None
        s = self._settings
        expected = self.background * sent
        excess = throttled - expected
        last, self._last = self._last, None
        if slow_start and self._probe is None:  # a new-found background is put to the test
            fraction = max(0.0, excess / sent)
            self._last = (sent, fraction)
            tolerated = s.slow_start_tolerance * sent
            spread = math.sqrt(tolerated * (1.0 - s.slow_start_tolerance))
            if excess <= tolerated + s.slow_start_noise * spread and not _grew(
                last, sent, fraction, s.growth_noise, s.quiet_evidence
            ):
                return None  # a few refusals that do not grow as the share doubles: not overload
        if excess <= s.noise * math.sqrt(expected):
            return None
        return excess / sent

    def watch(self, sent: int, throttled: int, share: float, *, overload: bool) -> bool:
        """Count an interval sent at `share` into the open series, if any; True if it shows the
        refusals to be the background (now in `background`; the series has ended)."""
        probe = self._probe
        if probe is not None:
            if overload and share < probe[1]:
                self.background = probe[0]  # overload again below where the cuts began: the
                self._probe = None  # refusals were other writers', who cut too; not a background
            elif share >= probe[1]:
                self._probe = None
        series = self._series
        if series is None:
            return False
        s = self._settings
        before_sent, before_throttled = series.before()
        if overload:
            series.quiet = 0
        elif before_throttled / before_sent * sent >= s.quiet_evidence:
            series.quiet += 1  # refusals as before would have shown here: they fell away
        tally = series.below if series.lowered(share, s, self._min_share) else series.above
        tally[0] += sent
        tally[1] += throttled
        series.spread.append((sent, throttled))
        if series.quiet >= s.relieved or (
            not series.below[0] and len(series.spread) >= s.halve_within
        ):
            self._series = None  # relieved, or cuts that came now and then: they stand
            return False
        found = series.verdict(s)
        if found is None:
            return False
        self._series = None
        if not found:
            return False  # the refusals fell as the share was cut: overload, the cuts stand
        self._probe = (self.background, series.share)
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
        """An interval without overload: a found background follows its refused fraction, up
        to `max_background`."""
        if self.background and sent:
            s = self._settings
            self.background += s.smoothing * (throttled / sent - self.background)
            self.background = min(self.background, s.max_background)
