"""The SimPy environment, extended so arrivals need no process of their own.

SimPy's public API only (`step`, `peek`, `now`, `timeout`, an event's `callbacks`
and `processed`): the clock reaches an arrival through a timeout whose delay lands
on the arrival's time (`clock.landing_delay_s`, the rule the compiled loop shares).
"""

from __future__ import annotations

import simpy

from sim.engine.clock import landing_delay_s


class ServingEnvironment(simpy.Environment):
    """A SimPy Environment that merges a sorted array of arrival times with its events.

    The engine processes every event due at or before the next arrival, moves the
    clock to the arrival and routes it; no process waits per arrival.
    """

    def retarget(self, waiting_on: simpy.Event, delay_s: float) -> simpy.Timeout:
        """Move whoever waits on the pending `waiting_on` to a timeout `delay_s` from now.

        What `Process.interrupt` does, without an extra event and an exception: the
        old event still fires, for nobody. Returns the new event waited on.
        """
        timeout = self.timeout(delay_s)
        timeout.callbacks.extend(waiting_on.callbacks)
        waiting_on.callbacks.clear()
        return timeout

    def abandon(self, waiting_on: simpy.Event | None) -> None:
        """Nobody resumes when `waiting_on` fires (a replica that dies mid-batch)."""
        if waiting_on is not None and waiting_on.callbacks is not None:
            waiting_on.callbacks.clear()

    def run_arrivals(self, arrival_s: list[float], route) -> None:
        """Process events and arrivals in time order until every arrival is routed.

        Events at an arrival's own instant run before it; the clock then moves to
        the arrival by a timeout (which, in a rounding tie no delay resolves, lands
        one step later, after the events already due then).
        """
        peek = self.peek
        step = self.step
        timeout = self.timeout
        for request, time_s in enumerate(arrival_s):
            while peek() <= time_s:
                step()
            now_s = self.now
            if time_s > now_s:
                landing = timeout(landing_delay_s(now_s, time_s))
                while not landing.processed:
                    step()
            route(request)
