"""Mutants of the bundled scenarios, and the checks each must pass (issue 10, fuzzing).

One mutation strategy for both users: tests/test_scenario_fuzz.py (a small fixed,
derandomized budget) and benchmarks/fuzz_scenarios.py (10,000+ mutants, counts).

A mutant is a bundled scenario's raw TOML dict with 1-3 hypothesis-drawn changes:
drop a key; set a number to an extreme (0, -1, huge, tiny, inf, -inf, nan, 2**63, ...);
give a key the wrong type; add an unknown key; flip an enum to another valid or an
invalid name; set a schema key the file does not use (spot rate, max_queue, ...).

Each mutant must either fail validation with a CapsimError whose every line names the
file, or validate and then finish a short `run` with balanced request counts
(arrived = completed + dropped + timed_out + lost + in_flight) and finite,
non-negative figures. Both stages run in a separate, memory-limited worker process
with a wall-time limit, so a hang is reported as "hang", not a stuck suite.

The short run (what the cap hides): the horizon is cut to SHORT_HORIZON_S (3 min),
and further so that it expects at most SHORT_RUN_REQUESTS requests, leaving every
rate, size and count as drawn (a huge rate still runs, on a shorter horizon, but
never under SHORTEST_HORIZON_S, 1 ms: beyond that the run plan must refuse it;
nor under the shortest horizon the scenario's bill scales from, its billing minimum);
the run is billed and summarised as usual. Replications become 1 (as `-n 1`, so a
huge replications value is not run), and --yes is not given (a run the plan refuses
is a clean refusal, counted apart). Bugs that need a long horizon (a day's diurnal
peak, growth over days) are not reached by the short run, only by validation and
the plan. NaN (null in JSON) is accepted only where it means "no data" (see
`_nan_allowed`); the BOTEC beside the run may be negative (savings), and its
non-finite figures are counted as advisories, not failures.
"""

from __future__ import annotations

import contextlib
import copy
import faulthandler
import math
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import time
import tomllib
import traceback
import types
import typing
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = ROOT / "scenarios"

SHORT_HORIZON_S = 180.0
SHORT_RUN_REQUESTS = 5000.0
SHORTEST_HORIZON_S = 1e-3  # a rate so huge that even 1 ms is too many: the plan decides
VALIDATE_TIMEOUT_S = 20.0
RUN_TIMEOUT_S = 30.0
WORKER_MEMORY_BYTES = 4 * 2**30  # address-space limit of a checking worker
MAX_ERROR_LINE_CHARS = 1000  # advisory: an error line longer than this is hard to read


def capsim_api() -> types.SimpleNamespace:
    """Every capsim name this module uses, imported here only (modules are moving)."""
    from distributions.traffic import expected_request_count
    from sim.errors import CapsimError
    from sim.montecarlo.json_output import dumps
    from sim.montecarlo.run_plan import check_plan, plan_run, run_and_aggregate
    from sim.scenario.catalog import load_catalog
    from sim.scenario.file import validate_scenario
    from sim.scenario.plugins import Registry
    from sim.scenario.prices import shortest_horizon_s
    from sim.scenario.schema import Scenario

    return types.SimpleNamespace(
        CapsimError=CapsimError,
        load_catalog=load_catalog,
        Scenario=Scenario,
        validate_scenario=validate_scenario,
        expected_request_count=expected_request_count,
        plan_run=plan_run,
        check_plan=check_plan,
        run_and_aggregate=run_and_aggregate,
        dumps=dumps,
        shortest_horizon_s=shortest_horizon_s,
        Registry=Registry,
    )


# ---------------------------------------------------------------- mutants


@dataclass(frozen=True)
class Mutation:
    kind: str  # drop, number, wrong-type, unknown-key, enum, string, schema-key
    path: tuple[str | int, ...]
    value: Any = None

    def describe(self) -> str:
        key = key_path(self.path)
        if self.kind == "drop":
            return f"drop {key}"
        return f"{self.kind}: {key} = {short_repr(self.value)}"


@dataclass(frozen=True)
class Mutant:
    scenario: str
    mutations: tuple[Mutation, ...]
    data: dict[str, Any]

    @property
    def source(self) -> str:
        return f"{self.scenario}-mutant.toml"

    def describe(self) -> str:
        return f"{self.scenario}: " + "; ".join(m.describe() for m in self.mutations)

    def __repr__(self) -> str:
        return f"<mutant {self.describe()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # how hypothesis prints a falsifying mutant


def key_path(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "<top>"


def short_repr(value: Any, limit: int = 60) -> str:
    """A value for a report line: powers of two as 2**k, long strings cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**31:
        magnitude = abs(value)
        if magnitude & (magnitude - 1) == 0:
            return f"{'-' if value < 0 else ''}2**{magnitude.bit_length() - 1}"
    text = repr(value)
    if len(text) > limit:
        return f"{text[: limit - 20]}... ({len(text)} chars)"
    return text


def bundled_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))


@cache
def _raw(name: str) -> dict[str, Any]:
    return tomllib.loads((SCENARIOS_DIR / f"{name}.toml").read_text(encoding="utf-8"))


def load_raw(name: str) -> dict[str, Any]:
    """A fresh copy of a bundled scenario's raw TOML dict."""
    return copy.deepcopy(_raw(name))


# The brief's extremes (0, -1, huge, tiny, inf, -inf, nan, 2**63) and a few neighbours.
EXTREME_NUMBERS: tuple[Any, ...] = (
    0, -1, 0.0, 0.5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
    math.inf, -math.inf, math.nan, 10**6, 10**9, 2**63 - 1, 2**63, 2**64,
)  # fmt: skip
TRICKY_STRINGS: tuple[str, ...] = (
    "", " ", "0", "1.5", "true", "1h", "-1h", "0s", "0ms", "1e400s", "1e-400s", "nan",
    "inf", "1e308d", "99999999999999999999d", "25:00", "24:00", "23:59:59", "-01:00",
    "9:99", "1h30m", "é", "\x00", "😀", "١٢", "x" * 100_000,
)  # fmt: skip

extremes = st.sampled_from(EXTREME_NUMBERS)
numbers = st.one_of(  # extremes three times as often as any integer or any float
    extremes,
    extremes,
    extremes,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
strings = st.one_of(st.sampled_from(TRICKY_STRINGS), st.text(max_size=12))
scalars = st.one_of(numbers, strings, st.booleans())
any_value = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), scalars, max_size=3),
)


def _walk(node: Any, path: tuple[str | int, ...] = ()):
    """Every (path, value) below a node, tables and lists included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i), value
            yield from _walk(value, (*path, i))


def _parent(data: Any, path: tuple[str | int, ...]) -> Any:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def apply_mutation(data: dict[str, Any], mutation: Mutation) -> None:
    """Change a raw scenario dict in place."""
    if mutation.kind == "drop":
        del _parent(data, mutation.path)[mutation.path[-1]]
        return
    node = data
    for part in mutation.path[:-1]:
        if mutation.kind == "schema-key" and not isinstance(node.get(part), dict):
            node[part] = {}  # a schema key under a section the file lacks (or spoilt)
        node = node[part]
    node[mutation.path[-1]] = mutation.value


@cache
def schema_leaves() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """Every (key path, literal values) the schema knows outside lists and distributions."""
    api = capsim_api()
    out = []

    def models_in(annotation: Any) -> list[type]:
        if isinstance(annotation, type):
            return [annotation] if issubclass(annotation, BaseModel) else []
        if typing.get_origin(annotation) is list:
            return []
        found = []
        for arg in typing.get_args(annotation):
            found.extend(models_in(arg))
        return found

    def literals_in(annotation: Any) -> list[str]:
        if typing.get_origin(annotation) is typing.Literal:
            return [str(a) for a in typing.get_args(annotation)]
        found = []
        for arg in typing.get_args(annotation):
            found.extend(literals_in(arg))
        return found

    def plugin_names(metadata: list[Any]) -> list[str]:
        """A key naming a plug-in validates against its registry (`Registry.check`)."""
        for item in metadata:
            registry = getattr(getattr(item, "func", None), "__self__", None)
            if isinstance(registry, api.Registry):
                return list(registry.names())
        return []

    def visit(model: type, prefix: tuple[str, ...]) -> None:
        for name, info in model.model_fields.items():
            inner = models_in(info.annotation)
            if len(inner) == 1:
                visit(inner[0], (*prefix, name))
            else:  # a value, or a distribution (several models): a leaf
                names = literals_in(info.annotation) or plugin_names(info.metadata)
                out.append(((*prefix, name), tuple(names)))

    visit(api.Scenario, ())
    return tuple(out)


@cache
def enum_values() -> dict[str, tuple[str, ...]]:
    """Valid names by key (literal fields, and the catalog's GPUs and providers)."""
    names: dict[str, set[str]] = {}
    for path, literals in schema_leaves():
        if literals:
            names.setdefault(path[-1], set()).update(literals)
    names["dist"] = {"fixed", "exponential", "lognormal", "gamma", "uniform", "empirical"}
    catalog = capsim_api().load_catalog()
    names["gpu"] = set(catalog.gpus)
    names["provider"] = set(catalog.providers)
    return {key: tuple(sorted(values)) for key, values in names.items()}


distributions = st.fixed_dictionaries(
    {"dist": st.sampled_from(["fixed", "exponential", "lognormal", "gamma", "uniform"])},
    optional={"value": numbers, "mean": numbers, "cv": numbers, "low": numbers, "high": numbers},
)


@st.composite
def mutations_of(draw: st.DrawFn, data: dict[str, Any]) -> Mutation:
    """One mutation of a raw scenario dict, drawn against its current keys."""
    entries = list(_walk(data))
    leaves = [(p, v) for p, v in entries if not isinstance(v, dict | list)]
    # Weighted: extreme numbers and unused schema keys reach the most code.
    kinds = ["drop", "wrong-type", "unknown-key", "schema-key", "schema-key", "enum"]
    if any(_is_number(v) for _, v in leaves):
        kinds += ["number"] * 3
    if any(isinstance(v, str) for _, v in leaves):
        kinds.append("string")
    kind = draw(st.sampled_from(kinds))
    if kind == "drop" and entries:
        path, _ = draw(st.sampled_from(entries))
        return Mutation("drop", path)
    if kind == "number":
        path, _ = draw(st.sampled_from([(p, v) for p, v in leaves if _is_number(v)]))
        return Mutation("number", path, draw(numbers))
    if kind == "string":
        path, _ = draw(st.sampled_from([(p, v) for p, v in leaves if isinstance(v, str)]))
        return Mutation("string", path, draw(strings))
    if kind == "enum":
        names = enum_values()
        keyed = [(p, v) for p, v in leaves if isinstance(v, str) and str(p[-1]) in names]
        if keyed:
            path, _ = draw(st.sampled_from(keyed))
            valid = names[str(path[-1])]
            value = draw(st.one_of(st.sampled_from(valid), st.sampled_from(TRICKY_STRINGS[:12])))
            return Mutation("enum", path, value)
        kind = "schema-key"
    if kind == "schema-key":
        path, literals = draw(st.sampled_from(schema_leaves()))
        options = [numbers, distributions, any_value]
        if literals:
            options.insert(0, st.sampled_from(literals))
        return Mutation("schema-key", path, draw(st.one_of(*options)))
    if kind == "unknown-key":
        tables = [()] + [p for p, v in entries if isinstance(v, dict)]
        table = draw(st.sampled_from(tables))
        node = _parent(data, (*table, None))
        existing = [str(k) for k in node]
        near_miss = st.sampled_from(existing).map(lambda k: k + "s") if existing else st.just("x")
        name = draw(st.one_of(st.text(max_size=10), near_miss))
        return Mutation("unknown-key", (*table, name), draw(any_value))
    # wrong type: any entry, table or leaf, becomes another kind of value
    path, value = draw(st.sampled_from(entries)) if entries else (("name",), None)
    replacement = draw(any_value.filter(lambda v: type(v) is not type(value)))
    return Mutation("wrong-type", path, replacement)


@st.composite
def mutants(draw: st.DrawFn, max_mutations: int = 3) -> Mutant:
    """A bundled scenario with 1..max_mutations drawn changes, mostly one.

    One change at a time keeps many mutants valid, so the short run sees them.
    """
    name = draw(st.sampled_from(bundled_names()))
    data = load_raw(name)
    applied = []
    counts = [1, 1, 1, *range(2, max_mutations + 1)]
    for _ in range(draw(st.sampled_from(counts))):
        mutation = draw(mutations_of(data))
        if any(repr(mutation) == repr(done) for done in applied):
            continue  # the same change twice says nothing new
        apply_mutation(data, mutation)
        applied.append(mutation)
    return Mutant(name, tuple(applied), data)


# ---------------------------------------------------------------- checks

FAILURE_KINDS = (
    "validate-raised",  # anything but a CapsimError (the type is appended)
    "validate-bad-message",  # empty, or a line that does not name the file
    "hang",
    "run-crash",  # the run raised anything but a CapsimError (type appended)
    "run-error-after-valid",  # a CapsimError from the run of a mutant that validated
    "run-json",  # the summary is not a JSON document
    "unbalanced",
    "non-finite",
    "negative",
    "cap-invalid",  # the capped copy of a valid mutant failed validation
)
ADVISORY_KINDS = (
    "error-multiline",  # several problems, one per line (format_validation_error's design)
    "error-line-long",
    "run-refused-by-plan",  # check_plan refused the short run (memory or time)
    "botec-non-finite",  # inf or nan in the BOTEC beside the run
)


@dataclass
class Outcome:
    # invalid, crashed (validate raised), valid (validated; not run), run (run tried),
    # refused (by the plan), hang-validate, hang-run
    stage: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    advice: list[tuple[str, str]] = field(default_factory=list)
    short_horizon_s: float | None = None
    message: str = ""
    elapsed_s: float = 0.0

    @property
    def validated(self) -> bool:
        return self.stage in ("valid", "run", "refused", "hang-run")

    @property
    def ran(self) -> bool:
        """The short run finished (whatever its figures)."""
        stopped = ("run-crash", "run-error-after-valid", "cap-invalid")
        return self.stage == "run" and not any(k.startswith(stopped) for k, _ in self.problems)


def _last_line(exc: BaseException) -> str:
    """The exception's type and message, and where in capsim it was raised."""
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/sim/" in f.filename]
    if frames:
        frame = frames[-1]
        text += f"  [at {Path(frame.filename).name}:{frame.lineno} in {frame.name}]"
    return text[:400]


def check_message(message: str, source: str, outcome: Outcome) -> None:
    lines = message.split("\n")
    if not message.strip():
        outcome.problems.append(("validate-bad-message", "empty message"))
    for line in lines:
        if not (line.startswith(f"{source}: ") or line.startswith("... and ")):
            outcome.problems.append(
                ("validate-bad-message", f"line without the file: {line!r}"[:300])
            )
        if len(line) > MAX_ERROR_LINE_CHARS:
            outcome.advice.append(("error-line-long", f"{len(line)} chars: {line[:150]}..."))
    if len(lines) > 1:
        outcome.advice.append(("error-multiline", f"{len(lines)} lines"))


def short_horizon_s(api: types.SimpleNamespace, scenario: Any) -> float:
    """The short run's horizon: at most SHORT_HORIZON_S and SHORT_RUN_REQUESTS expected."""
    horizon_s = min(scenario.horizon, SHORT_HORIZON_S)
    for _ in range(3):  # the rate varies over time: shrink until the count fits
        expected = api.expected_request_count(scenario.model_copy(update={"horizon": horizon_s}))
        if not (math.isfinite(expected) and expected > SHORT_RUN_REQUESTS):
            break
        horizon_s *= 0.9 * SHORT_RUN_REQUESTS / expected
    return max(horizon_s, SHORTEST_HORIZON_S, api.shortest_horizon_s(scenario))


def check_mutant_here(
    mutant: Mutant, stage: str = "all", note: typing.Callable[..., None] | None = None
) -> Outcome:
    """Validate a mutant and, if valid, run it short; in this process, no time limit.

    `note` hears the short horizon before the run starts (for a hang's report).
    """
    api = capsim_api()
    data = copy.deepcopy(mutant.data)
    try:
        scenario = api.validate_scenario(data, source=mutant.source, base_dir=SCENARIOS_DIR)
    except api.CapsimError as exc:
        outcome = Outcome("invalid", message=str(exc)[:2000])
        check_message(str(exc), mutant.source, outcome)
        return outcome
    except Exception as exc:  # the finding is what it raised
        return Outcome("crashed", [(f"validate-raised:{type(exc).__name__}", _last_line(exc))])
    if stage == "validate":
        return Outcome("valid")
    outcome = Outcome("run", short_horizon_s=min(scenario.horizon, SHORT_HORIZON_S))
    if note is not None:
        note(horizon_s=outcome.short_horizon_s)
    try:
        outcome.short_horizon_s = short_horizon_s(api, scenario)
        if note is not None:
            note(horizon_s=outcome.short_horizon_s)
        capped = copy.deepcopy(mutant.data)
        capped["horizon"] = outcome.short_horizon_s  # as --set horizon=<seconds> would
        try:
            short = api.validate_scenario(capped, source=mutant.source, base_dir=SCENARIOS_DIR)
        except Exception as exc:
            outcome.problems.append(("cap-invalid", _last_line(exc)))
            return outcome
        short = short.model_copy(update={"replications": 1})  # as -n 1 does
        try:
            api.check_plan(api.plan_run(short, 1), False)
        except api.CapsimError as exc:
            outcome.stage = "refused"
            outcome.advice.append(("run-refused-by-plan", str(exc)[:300]))
            return outcome
        summary, _ = api.run_and_aggregate(short, 1, False)
    except api.CapsimError as exc:
        outcome.problems.append(("run-error-after-valid", _last_line(exc)))
        return outcome
    except Exception as exc:
        outcome.problems.append((f"run-crash:{type(exc).__name__}", _last_line(exc)))
        return outcome
    try:
        api.dumps(summary)
    except Exception as exc:
        outcome.problems.append((f"run-json:{type(exc).__name__}", _last_line(exc)))
    check_figures(summary, outcome)
    return outcome


REQUEST_KEYS = ("completed", "dropped", "timed_out", "lost", "in_flight")
LATENCY_SECTIONS = (
    "latency_s",
    "replication_latency_s",
    "replication_p99_e2e_s",
    "worst_hour_p99_e2e_s",
)


def _numbers(node: Any, path: tuple[str, ...] = ()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, (*path, str(key)))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _numbers(value, (*path, str(i)))
    elif _is_number(node) or type(node).__module__ == "numpy":
        with contextlib.suppress(TypeError, ValueError):
            yield path, float(node)


def _nan_allowed(path: tuple[str, ...], summary: dict[str, Any]) -> bool:
    """Where a NaN (null in JSON) means "no data" rather than a wrong figure.

    Latency with no completed request; TPOT whenever (a latency model has no decode
    steps); cost per request with no completed request; a class's percentiles with
    none of its requests completed; the completed share with no arrivals.
    """
    requests = summary["requests"]
    if path[0] in LATENCY_SECTIONS:
        return requests.get("completed", 0) == 0 or "tpot" in path
    if path[0] == "cost_usd" and path[1] in ("per_request", "per_1k_requests"):
        return requests.get("completed", 0) == 0
    if path[0] == "classes" and len(path) > 2 and path[2] in ("e2e_p99_s", "ttft_p99_s"):
        return summary["classes"][path[1]]["completed"] == 0
    if path[:2] == ("risk", "share_completed"):
        return requests.get("arrived", 0) == 0
    return False


def check_figures(summary: dict[str, Any], outcome: Outcome) -> None:
    """Balanced request counts; finite, non-negative figures (the BOTEC may be negative)."""
    requests = summary["requests"]
    got = {key: requests.get(key) for key in ("arrived", *REQUEST_KEYS)}
    if None in got.values() or got["arrived"] != sum(got[k] for k in REQUEST_KEYS):
        outcome.problems.append(("unbalanced", str(got)))
    found: dict[str, list[tuple[tuple[str, ...], float]]] = {"non-finite": [], "negative": []}
    for path, value in _numbers({k: v for k, v in summary.items() if not k.startswith("botec")}):
        if math.isinf(value) or (math.isnan(value) and not _nan_allowed(path, summary)):
            found["non-finite"].append((path, value))
        elif value < 0:
            found["negative"].append((path, value))
    for kind, figures in found.items():
        if figures:
            outcome.problems.append((kind, _figures_line(figures)))
    botec = {k: v for k, v in summary.items() if k.startswith("botec")}
    figures = [(path, value) for path, value in _numbers(botec) if not math.isfinite(value)]
    if figures:
        outcome.advice.append(("botec-non-finite", _figures_line(figures)))


def _figures_line(figures: list[tuple[tuple[str, ...], float]]) -> str:
    """`sections: N figures, e.g. a.b = x, ...` (the sections name the bug)."""
    sections = sorted({".".join(path[:2]) for path, _ in figures})
    examples = ", ".join(f"{'.'.join(path)} = {value!r}" for path, value in figures[:3])
    return f"{', '.join(sections)}: {len(figures)} figures, e.g. {examples}"


# ---------------------------------------------------------------- the guard


def _worker_main(connection: Any, dump_path: str) -> None:
    """A checking worker: limited memory; checks mutants sent down the pipe.

    Before each check it arms faulthandler to write every thread's stack to
    `dump_path` just before the check's time limit, so a hang says where it hung.
    Warnings raised during a check are returned as advisories.
    """
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    sys.setrecursionlimit(5000)
    with open(dump_path, "w+") as dump:
        while True:
            try:
                request = connection.recv()
            except EOFError:
                return
            if request is None:
                return
            mutant, stage, timeout_s = request
            dump.seek(0)
            dump.truncate()
            faulthandler.dump_traceback_later(max(1.0, timeout_s - 2.0), file=dump)
            started = time.monotonic()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    outcome = check_mutant_here(
                        mutant, stage, lambda **note: connection.send(("note", note))
                    )
                except Exception as exc:  # the checker itself must answer
                    problem = (f"run-crash:{type(exc).__name__}", _last_line(exc))
                    outcome = Outcome("crashed", [problem])
            faulthandler.cancel_dump_traceback_later()
            outcome.elapsed_s = time.monotonic() - started
            for text in dict.fromkeys(_warning_line(w) for w in caught):
                outcome.advice.append(("runtime-warning", text))
            connection.send(("outcome", outcome))


def _warning_line(caught: warnings.WarningMessage) -> str:
    where = f"{Path(caught.filename).name}:{caught.lineno}"
    return f"{caught.category.__name__}: {caught.message} [at {where}]"


def _stuck_at(dump_text: str) -> str:
    """Where a hung worker was: its innermost frame, and the innermost in capsim."""
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', dump_text)
    if not frames:
        return "no stack dumped"
    name = lambda f: f"{Path(f[0]).name}:{f[1]} in {f[2]}"  # noqa: E731
    inner = name(frames[0])
    ours = next((name(f) for f in frames if "/sim/" in f[0] or "/distributions/" in f[0]), None)
    return inner if ours in (None, inner) else f"{ours} (innermost {inner})"


WARM_UP = Mutant("mmc", (), {**_raw("mmc"), "horizon": 60.0})


class GuardedChecker:
    """Checks mutants in a worker process; a check over its time limit is a "hang".

    The worker is started (and the compiled kernel loaded) before the first check,
    and restarted after a hang or a crash of the process itself.
    """

    def __init__(
        self, validate_timeout_s: float = VALIDATE_TIMEOUT_S, run_timeout_s: float = RUN_TIMEOUT_S
    ) -> None:
        self.validate_timeout_s = validate_timeout_s
        self.run_timeout_s = run_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._connection = None
        handle, name = tempfile.mkstemp(prefix="capsim-fuzz-", suffix=".txt")
        os.close(handle)
        self._dump = Path(name)  # where a hung worker's stacks are written
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_worker_main, args=(child, str(self._dump)), daemon=True
        )
        self._process.start()
        child.close()
        self._connection = parent
        self._ask(WARM_UP, "all", timeout_s=300.0)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._connection.close()
        self._process = None
        self.restarts += 1

    def _ask(self, mutant: Mutant, stage: str, timeout_s: float) -> tuple[Outcome | None, dict]:
        """The worker's outcome (None if over the time limit) and its notes."""
        self._connection.send((mutant, stage, timeout_s))
        deadline = time.monotonic() + timeout_s
        notes: dict[str, Any] = {}
        while self._connection.poll(max(0.0, deadline - time.monotonic())):
            try:
                tag, message = self._connection.recv()
            except EOFError:
                died = ("run-crash:WorkerDied", f"exit {self._process.exitcode}")
                return Outcome("crashed", [died], short_horizon_s=notes.get("horizon_s")), notes
            if tag == "outcome":
                return message, notes
            notes.update(message)
        return None, notes

    def check(self, mutant: Mutant) -> Outcome:
        """Validate, then (if valid) run short; each stage under its own time limit."""
        stages = (("validate", self.validate_timeout_s), ("all", self.run_timeout_s))
        for stage, timeout_s in stages:
            if self._process is None or not self._process.is_alive():
                self._start()
            outcome, notes = self._ask(mutant, stage, timeout_s)
            if outcome is None:
                time.sleep(0.5)  # let faulthandler finish writing
                stuck = _stuck_at(self._dump.read_text(errors="replace"))
                self._stop()
                where = "validate" if stage == "validate" else "run"
                problem = ("hang", f"{where} took over {timeout_s:.0f} s; stuck at {stuck}")
                return Outcome(f"hang-{where}", [problem], short_horizon_s=notes.get("horizon_s"))
            if outcome.problems and outcome.problems[0][0] == "run-crash:WorkerDied":
                self._stop()
            if stage == "validate" and outcome.stage != "valid":
                return outcome
        return outcome

    def close(self) -> None:
        if self._process is not None:
            try:
                self._connection.send(None)
                self._process.join(5)
            except (OSError, BrokenPipeError):
                pass
            if self._process.is_alive():
                self._process.kill()
            self._process = None
        self._dump.unlink(missing_ok=True)


# ---------------------------------------------------------------- reproduction


def _toml_key(key: str) -> str:
    return _toml_string(str(key))


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """A value spelt in TOML (inline tables, so any nesting fits on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML spelling for {type(value).__name__}")


def to_toml(data: dict[str, Any]) -> str:
    """A raw scenario dict as a TOML file, file references made absolute."""

    def absolute(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: absolute(v) for k, v in node.items()}
            ref = out.get("file")
            if isinstance(ref, str) and ref and (SCENARIOS_DIR / ref).is_file():
                out["file"] = str(SCENARIOS_DIR / ref)
            return out
        if isinstance(node, list):
            return [absolute(v) for v in node]
        return node

    data = absolute(data)
    return "".join(f"{_toml_key(k)} = {toml_value(v)}\n" for k, v in data.items())


def repro_command(mutant: Mutant, outcome: Outcome, path: Path) -> str:
    """The capsim command that shows a finding, for a mutant written to `path`."""
    if outcome.short_horizon_s is None:
        return f"capsim validate {path}"
    return f"capsim run {path} --set horizon={outcome.short_horizon_s!r} -n 1 --json"
