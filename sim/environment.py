"""The SimPy environment, extended so arrivals need no event of their own."""

from __future__ import annotations

import simpy


class ServingEnvironment(simpy.Environment):
    """A SimPy Environment whose clock can jump to an external arrival time.

    The arrival stream is a sorted array merged with SimPy's event queue: the
    engine processes every event due before the next arrival, jumps the clock to
    the arrival and routes it. No event is scheduled per arrival.
    """

    def retarget(self, process: simpy.Process, delay_s: float) -> None:
        """Resume `process` after `delay_s` instead of when the event it waits for fires.

        This is what `Process.interrupt` does, without an extra event and an
        exception: the process stops waiting on its current event (which still
        fires, for nobody) and waits on a new timeout.
        """
        target = process.target
        target.callbacks.remove(process._resume)
        timeout = self.timeout(delay_s)
        timeout.callbacks.append(process._resume)
        process._target = timeout

    def abandon(self, process: simpy.Process) -> None:
        """Stop `process` where it is, for good (a replica that dies mid-batch).

        Its pending event still fires, for nobody; its generator is never resumed.
        """
        if process.is_alive and process.target is not None:
            process.target.callbacks.remove(process._resume)

    def run_arrivals(self, arrival_s: list[float], route) -> None:
        """Process events and arrivals in time order until every arrival is routed."""
        peek = self.peek
        step = self.step
        for request, time_s in enumerate(arrival_s):
            while peek() <= time_s:
                step()
            if time_s > self._now:
                self._now = time_s
            route(request)
