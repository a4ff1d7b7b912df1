"""The demo's timeline: when a provider is down and when a model answers 429s, and the phases
(warm-up, OUTAGE, RATE-LIMIT storm, recovery) that the live view and the report name.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelrouter.schemas import ConfigurationError

__all__ = ["Timeline", "Window", "seconds_text"]


def seconds_text(x: float) -> str:
    """A moment or a length as the report prints it: 15, 13.3, 7.5."""
    return f"{x:.1f}".removesuffix(".0")


@dataclass(frozen=True, slots=True)
class Window:
    """[start_s, end_s), seconds from the start of the run."""

    start_s: float
    end_s: float

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int | float) and self.start_s <= t < self.end_s

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Timeline:
    """When `outage_provider` is down and when `storm_model` answers 429s."""

    seconds: float
    outage: Window
    storm: Window
    outage_provider: str = "anthropic"
    storm_model: str = "gpt-4o"

    @classmethod
    def scaled(
        cls,
        seconds: float,
        *,
        outage_at: float | None = None,
        outage_for: float | None = None,
        storm_at: float | None = None,
        storm_for: float | None = None,
        outage_provider: str = "anthropic",
        storm_model: str = "gpt-4o",
    ) -> Timeline:
        """The default shape at any length: warm-up for the first quarter, the outage for the
        second, recovery, the storm for a sixth from two thirds in, recovery again. The gap
        between the two lets the report see selection come back before the storm moves it."""
        if not seconds > 0:
            raise ConfigurationError(f"the demo needs a positive duration, got {seconds} s")
        o_at = seconds * 0.25 if outage_at is None else outage_at
        o_for = seconds * 0.25 if outage_for is None else outage_for
        s_at = seconds * 2 / 3 if storm_at is None else storm_at
        s_for = seconds / 6 if storm_for is None else storm_for
        for name, start, length in (("outage", o_at, o_for), ("storm", s_at, s_for)):
            if start < 0 or length <= 0 or start + length > seconds + 1e-9:
                raise ConfigurationError(
                    f"the {name} ({start:g} s for {length:g} s) must lie within the {seconds:g} s run "
                    f"and last more than 0 s: adjust --{name}-at / --{name}-for or --seconds"
                )
        return cls(
            seconds, Window(o_at, o_at + o_for), Window(s_at, s_at + s_for), outage_provider, storm_model
        )

    @property
    def warm_up(self) -> Window:
        return Window(0.0, min(self.outage.start_s, self.storm.start_s))

    def recovery_after(self, window: Window) -> Window:
        """From the end of `window` to the next trouble (or the end of the run)."""
        starts = [w.start_s for w in (self.outage, self.storm) if w.start_s >= window.end_s]
        return Window(window.end_s, min([*starts, self.seconds]))

    @property
    def late_warm_up(self) -> Window:
        """The warm-up's second half: selection has evidence by then, not only its priors."""
        end = self.warm_up.end_s
        return Window(end / 2, end)

    def phase(self, t: float) -> str:
        """What is going on at `t`: warm-up, OUTAGE <provider>, RATE-LIMIT storm <model>, recovery."""
        in_outage, in_storm = t in self.outage, t in self.storm
        outage = f"OUTAGE {self.outage_provider}"
        storm = f"RATE-LIMIT storm {self.storm_model}"
        if in_outage and in_storm:
            return f"{outage} + {storm}"
        if in_outage:
            return outage
        if in_storm:
            return storm
        return "warm-up" if t < self.warm_up.end_s else "recovery"

    def describe(self) -> str:
        """The phases in order, with their times: "warm-up 0-15 s · OUTAGE anthropic 15-30 s · ..."."""
        parts = sorted(
            [
                (self.outage, f"OUTAGE {self.outage_provider}"),
                (self.storm, f"RATE-LIMIT storm {self.storm_model}"),
            ],
            key=lambda p: p[0].start_s,
        )
        text = [f"warm-up 0-{seconds_text(self.warm_up.end_s)} s"] if self.warm_up.end_s > 0 else []
        reached = self.warm_up.end_s
        for window, label in parts:
            if window.start_s > reached:
                text.append(f"recovery {seconds_text(reached)}-{seconds_text(window.start_s)} s")
            text.append(f"{label} {seconds_text(window.start_s)}-{seconds_text(window.end_s)} s")
            reached = max(reached, window.end_s)
        if reached < self.seconds:
            text.append(f"recovery {seconds_text(reached)}-{seconds_text(self.seconds)} s")
        return " · ".join(text)
