"""Read a scenario file (path or bundled name), apply `--set` overrides, validate.

Every failure becomes one CapsimError that names the file, the key path, the bad
value and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from distributions.errors import WorkloadError
from distributions.tokens import dist_mean_cv, load_empirical_file
from distributions.traffic import scenario_trace
from scenarios import bundled_scenario_names, bundled_scenario_path
from sim.errors import CapsimError
from sim.scenario.catalog import find_price, gpu_spec, load_catalog
from sim.scenario.lever_prices import api_price, cache_price
from sim.scenario.memory import kv_memory_bytes
from sim.scenario.platform_prices import platform_price_problem
from sim.scenario.plugins import SERVICE_MODELS
from sim.scenario.precision import peak_flops_per_s
from sim.scenario.prices import PRICE_OVERRIDES, billing_problem, markets_needed, resolve_rates
from sim.scenario.schema import (
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Scenario,
    Uniform,
)
from sim.scenario.spot_terms import spot_terms


def load_scenario(ref: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Load and validate a scenario from a path or a bundled scenario's name."""
    path = resolve_scenario_path(ref)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CapsimError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    text = decode_utf8(raw, path, "a scenario file is TOML text")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CapsimError(f"{path}: not valid TOML: {exc}") from None
    # One rule for every file reference (traces, CDF tables): a relative path written in
    # the scenario file is read from the file's folder; one given by --set, from the
    # working directory, as any path typed on a command line.
    data = _resolve_files(data, path.parent, str(path), check=False)
    file_volume = volume_keys_in(data)
    for override in overrides:
        apply_override(data, override, file_volume)
    return validate_scenario(data, source=str(path), base_dir=Path.cwd())


def check_option(option: str, key: str, value: object) -> None:
    """A command-line value that replaces a scenario key (--seed, -n), checked like the key."""
    field = Scenario.model_fields[key]
    adapter = TypeAdapter(Annotated[(field.annotation, *field.metadata)])
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError as exc:
        raise CapsimError(_describe(exc.errors(include_url=False)[0], (), option, value)) from None


def decode_utf8(raw: bytes, path: str | Path, what: str) -> str:
    """Text from a file's bytes (UTF-8, with or without a byte-order mark); else one clear error."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CapsimError(
            f"{path}: is UTF-16 text (it starts with a byte-order mark); {what}, save it as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CapsimError(
            f"{path}: is not UTF-8 text (line {line} has the byte {raw[exc.start]:#04x}); "
            f"{what}, save it as UTF-8"
        ) from None


def resolve_scenario_path(ref: str | Path) -> Path:
    """A scenario reference as a path: an existing file, else a bundled scenario's name."""
    path = Path(ref)
    if path.is_file():
        return path
    if isinstance(ref, str) and ref in bundled_scenario_names():
        return bundled_scenario_path(ref)
    if path.exists():
        raise CapsimError(f"{path}: is not a file")
    names = bundled_scenario_names()
    hint = difflib.get_close_matches(str(ref), names, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    raise CapsimError(
        f"{ref}: no such file, and no bundled scenario of that name.{suggestion} "
        f"Bundled scenarios: {', '.join(names)}"
    )


# The ways to give the traffic volume, each a set of keys that go together.
VOLUME_GROUPS = (
    ("rate_per_s",),
    ("requests_per_day",),
    ("daily_active_users", "requests_per_user_per_day"),
)


def volume_keys_in(data: dict[str, Any]) -> set[str]:
    """The traffic-volume keys a raw scenario dict gives."""
    traffic = data.get("traffic")
    if not isinstance(traffic, dict):
        return set()
    return {k for group in VOLUME_GROUPS for k in group if k in traffic}


def apply_override(
    data: dict[str, Any], override: str, file_volume: set[str] | None = None
) -> None:
    """Set `key.path=value` in a raw scenario dict; the value is read as TOML if it can be.

    Setting a traffic-volume key replaces the file's volume: the keys of the other
    ways to give it that are still the file's (`file_volume`, updated here) are
    dropped, so the volume stays given once; two volumes given by --set stay an error.
    """
    key_path, sep, raw_value = override.partition("=")
    key_path = key_path.strip()
    if not sep or not key_path:
        raise CapsimError(f"--set {override!r}: expected key.path=value, e.g. fleet.replicas=8")
    keys = key_path.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise CapsimError(f"--set {override!r}: {key!r} is a value, not a section")
        node = child
    node[keys[-1]] = parse_override_value(raw_value.strip())
    if len(keys) == 2 and keys[0] == "traffic":
        group = next((g for g in VOLUME_GROUPS if keys[1] in g), None)
        if group is not None and file_volume is not None:
            for key in file_volume - set(group):
                node.pop(key, None)
            file_volume.intersection_update(group)
            file_volume.discard(keys[1])


def parse_override_value(raw: str) -> Any:
    """A TOML value (number, string, bool, array, inline table), else the bare string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def validate_scenario(data: dict[str, Any], source: str, base_dir: Path | None = None) -> Scenario:
    """Validate a raw dict against the schema, the catalog and the files it names.

    Relative file references are read from base_dir (default: as given). Every file is
    read with the reader a run uses, so a scenario that validates does not fail later.
    """
    if base_dir is not None:
        data = _resolve_files(data, base_dir, source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise CapsimError(format_validation_error(exc, source, data)) from None
    _check_catalog(scenario, source)
    problem = billing_problem(scenario) or platform_price_problem(scenario)
    if problem is not None:
        raise CapsimError(f"{source}: {problem}")
    _read_files(scenario, source)
    _check_service_time(scenario, source)
    _check_spot_notice(scenario, source)
    try:
        if SERVICE_MODELS[scenario.service.model].from_hardware:
            kv_memory_bytes(scenario)  # the model must fit in the replica's memory
            peak_flops_per_s(scenario)  # and its GPU must have the compute precision
    except CapsimError as exc:
        raise CapsimError(f"{source}: {exc}") from None
    return scenario


def format_validation_error(exc: ValidationError, source: str, data: dict[str, Any]) -> str:
    """The problems pydantic found (at most three), each said in the user's terms.

    Each line names the file, the key path, what is allowed and the bad value, in TOML
    spelling (`"spot-ish"`, `true`, `[1, 2]`), never pydantic's wording or Python reprs.
    """
    errors = exc.errors(include_url=False)
    # A misspelt key is also reported as its intended key "missing": say the first only.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    others = [e for e in errors if e["type"] != "extra_forbidden"]
    suggested: set[tuple[tuple[Any, ...], str]] = set()
    lines = []
    for error in unknown:
        raw_loc = tuple(error["loc"])
        key_path = _key_path(raw_loc)
        allowed = _allowed_keys(raw_loc[:-1])
        hint = difflib.get_close_matches(str(raw_loc[-1]), allowed, n=1)
        if hint:
            suggested.add((raw_loc[:-1], hint[0]))
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        where = f"Allowed here: {', '.join(allowed)}" if allowed else "This takes no keys."
        lines.append(f"{source}: unknown key {key_path!r}.{suggestion} {where}")
    for error in others:
        raw_loc = tuple(error["loc"])
        if error["type"] == "missing" and (raw_loc[:-1], str(raw_loc[-1])) in suggested:
            continue
        lines.append(_describe(error, raw_loc, source, data))
    if len(lines) > 3:
        more = len(lines) - 3
        lines = [*lines[:3], f"... and {more} more problem{'s' if more > 1 else ''}"]
    return "\n".join(lines)


_MISSING = object()

_DIST_MODELS: dict[str, type[BaseModel]] = {
    "fixed": Fixed,
    "exponential": Exponential,
    "lognormal": LogNormal,
    "gamma": Gamma,
    "uniform": Uniform,
    "empirical": Empirical,
}
_DIST_EXAMPLE = '{ dist = "fixed", value = 250 } or { dist = "lognormal", mean = 500, cv = 0.6 }'
_WHOLE_NUMBER = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "int_parsing_size",
}
_NUMBER = {"float_type", "float_parsing", "finite_number"}


def _describe(error: Any, raw_loc: tuple[Any, ...], source: str, data: dict[str, Any]) -> str:
    """One line for one non-unknown-key error: file, key path, what is allowed, the value."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    key_path = _key_path(raw_loc)
    value = _lookup(data, raw_loc)
    show_value = value is not _MISSING
    suggestion = ""
    if kind == "missing":
        if raw_loc and isinstance(raw_loc[-1], int):
            message = "is missing: this entry has too few items"
        else:
            message = "is required"
    elif kind == "greater_than":
        message = f"must be greater than {_toml(ctx.get('gt'))}"
    elif kind == "greater_than_equal":
        message = f"must be at least {_toml(ctx.get('ge'))}"
    elif kind == "less_than":
        message = f"must be less than {_toml(ctx.get('lt'))}"
    elif kind == "less_than_equal":
        message = f"must be at most {_toml(ctx.get('le'))}"
    elif kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = f"must be one of {', '.join(_toml(a) for a in allowed)}"
        if isinstance(value, str):
            hint = difflib.get_close_matches(value, allowed, n=1)
            suggestion = f". Did you mean {_toml(hint[0])}?" if hint else ""
    elif kind in _WHOLE_NUMBER:
        message = "must be a whole number"
    elif kind in _NUMBER:
        message = "must be a number"
    elif kind == "string_type":
        message = 'must be a string in quotes, e.g. "text"'
    elif kind in ("bool_type", "bool_parsing"):
        message = "must be true or false"
    elif kind in ("list_type", "tuple_type"):
        message = "must be an array, e.g. [1, 2]"
    elif kind == "string_too_long":
        message = f"is too long: at most {ctx.get('max_length')} characters"
        if isinstance(value, str):
            message += f" (got {len(value):,})"
        show_value = False  # the text itself may be huge
    elif kind == "too_long":
        message = f"has too many items (at most {ctx.get('max_length')})"
    elif kind == "too_short":
        message = f"has too few items (at least {ctx.get('min_length')})"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        if _is_distribution(raw_loc):
            message = f"must be a distribution table such as {_DIST_EXAMPLE}"
        else:
            message = "must be a table of keys (a section, or an inline { key = value, ... })"
    elif kind == "union_tag_invalid":
        tag = ctx.get("tag")
        names = list(_DIST_MODELS)
        key_path = f"{key_path}.dist"
        value, show_value = tag, True
        message = f"must be one of {', '.join(map(_toml, names))}"
        hint = difflib.get_close_matches(str(tag), names, n=1)
        suggestion = f". Did you mean {_toml(hint[0])}?" if hint else ""
    elif kind == "union_tag_not_found":
        names = ", ".join(map(_toml, _DIST_MODELS))
        message = f"needs a 'dist' key, one of {names}, e.g. {_DIST_EXAMPLE}"
    else:
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if isinstance(value, dict) and kind not in ("model_type", "model_attributes_type"):
        show_value = False  # a whole-table check: the message says what is wrong
    shown = f" (got {shortened(_toml(value))})" if show_value else ""
    where = f"{key_path}: " if key_path else ""
    return f"{source}: {where}{message}{shown}{suggestion}"


def _key_path(raw_loc: tuple[Any, ...]) -> str:
    """A pydantic location as the user's key path: `traffic.bursts.0.start`."""
    return ".".join(str(part) for part in raw_loc if not _is_union_tag(part))


def shortened(text: str, limit: int = 80) -> str:
    """A bad value as an error line quotes it: at most `limit` characters, so it stays one line."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text):,} characters)"


def _toml(value: Any) -> str:
    """A value spelt as in a TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in _DIST_MODELS


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif _is_union_tag(part):
            continue
        else:
            return _MISSING
    return node


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model of the table at a pydantic location (union tags pick the member)."""
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            continue
        if _is_union_tag(part) and "dist" in model.model_fields and part in _DIST_MODELS:
            model = _DIST_MODELS[part]
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _allowed_keys(loc: tuple[Any, ...] | list[Any]) -> list[str]:
    """The keys the schema accepts at a section path."""
    model = _model_at(tuple(loc))
    return list(model.model_fields) if model is not None else []


def _is_distribution(loc: tuple[Any, ...]) -> bool:
    """Whether the key at a location takes a distribution table."""
    if not loc:
        return False
    parent = _model_at(loc[:-1])
    if parent is None:
        return False
    field = parent.model_fields.get(str(loc[-1]))
    return field is not None and _model_in(field.annotation) is Fixed


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _check_catalog(scenario: Scenario, source: str) -> None:
    fleet = scenario.fleet
    catalog = load_catalog()
    try:
        gpu_spec(fleet.gpu)
    except CapsimError:
        hint = difflib.get_close_matches(fleet.gpu, list(catalog.gpus), n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise CapsimError(
            f"{source}: fleet.gpu: unknown GPU {fleet.gpu!r}.{suggestion} "
            f"Allowed: {', '.join(catalog.gpus)}"
        ) from None
    if fleet.provider not in catalog.providers:
        hint = difflib.get_close_matches(fleet.provider, catalog.providers, n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise CapsimError(
            f"{source}: fleet.provider: unknown provider {fleet.provider!r}.{suggestion} "
            f"Allowed: {', '.join(catalog.providers)}"
        )
    rates = resolve_rates(scenario)
    for market in markets_needed(scenario):
        if market in rates.usd_per_replica_s:
            continue
        try:
            find_price(fleet.gpu, fleet.provider, market)
        except CapsimError as exc:
            key = (
                "fleet.spot_fraction"
                if fleet.spot_fraction and market != fleet.market
                else ("fleet.market")
            )
            found = str(exc).split(" (or set")[0]
            override = PRICE_OVERRIDES.get(market)
            if override is None:  # a registered market with no [pricing] key of its own
                raise CapsimError(
                    f"{source}: {key}: {found}; add its price to the catalog "
                    "(sim/scenario/data/catalog.toml)"
                ) from None
            raise CapsimError(f"{source}: {key}: {found}; set pricing.{override}") from None
    _check_lever_catalog(scenario, source)


def _check_lever_catalog(scenario: Scenario, source: str) -> None:
    """The cache and API rows and the routed fleet's GPU the levers name exist."""
    levers = scenario.levers
    routing = levers.routing
    try:
        if levers.cache.hit_rate:
            cache_price(levers.cache.cache)
        given = None not in (routing.input_usd_per_1k_tokens, routing.output_usd_per_1k_tokens)
        if routing.share and routing.to == "api" and routing.api != "api" and not given:
            api_price(routing.api, "levers.routing.api")
        if levers.batch.share and levers.batch.api != "api":
            api_price(levers.batch.api, "levers.batch.api")
    except CapsimError as exc:
        raise CapsimError(f"{source}: {exc}") from None
    gpu = routing.gpu
    if routing.share and gpu is not None and gpu not in load_catalog().gpus:
        raise CapsimError(
            f"{source}: levers.routing.gpu: unknown GPU {gpu!r}. "
            f"Allowed: {', '.join(load_catalog().gpus)}"
        )


def _read_files(scenario: Scenario, source: str) -> None:
    """Read the trace and every empirical file as a run reads them; a bad one names its key."""
    if scenario.traffic.profile == "trace":
        try:
            scenario_trace(scenario)
        except (CapsimError, WorkloadError) as exc:
            raise CapsimError(f"{source}: traffic.trace.file: {exc}") from None
    for key_path, spec in _empirical_files(scenario, ""):
        try:
            load_empirical_file(spec)
        except (CapsimError, WorkloadError) as exc:
            raise CapsimError(f"{source}: {key_path}.file: {exc}") from None


def _check_spot_notice(scenario: Scenario, source: str) -> None:
    """Refuse a notice longer than the mean time between reclaims.

    A replica whose reclaim is due within its notice is told to leave as it
    starts, and its replacement launches at the same instant: with most replicas
    so short-lived, the replacements would go on without the clock moving.
    """
    fleet = scenario.fleet
    if not fleet.uses_spot:
        return
    terms = spot_terms(scenario)
    if terms.interruptions_per_hour <= 0:
        return
    mean_life_s = 3600.0 / terms.interruptions_per_hour
    if terms.notice_s <= mean_life_s:
        return
    given = scenario.spot.notice is not None
    key = "spot.notice" if given else "spot.interruptions_per_hour"
    origin = "" if given else f" ({fleet.provider}'s notice in the catalog)"
    raise CapsimError(
        f"{source}: {key}: a {terms.notice_s:g} s notice{origin} is longer than the mean time "
        f"between reclaims, 3600 / {terms.interruptions_per_hour:g} = {mean_life_s:g} s, so "
        "most spot replicas would be told to leave as they start; the notice may be at most "
        "3600 / spot.interruptions_per_hour seconds"
    )


MIN_LATENCY_S = 1e-6  # a microsecond: the shortest mean service time that means something
MIN_MEAN_TOKENS = 0.01  # draws are whole tokens, at least 1; the BOTEC divides by the mean


def _check_service_time(scenario: Scenario, source: str) -> None:
    """Refuse a per-request latency whose mean is (nearly) zero, and requests of no tokens:
    a replica's throughput would be unbounded, so capacity, utilisation and cost per
    request have no value."""
    model = scenario.service.model
    if not SERVICE_MODELS[model].token_timing and scenario.slo.tpot_p99 is not None:
        raise CapsimError(
            f"{source}: slo.tpot_p99: a given per-request latency (service.model = "
            f'"{model}") has no token timing; use service.model = "roofline" or drop the TPOT SLO'
        )
    latency = scenario.service.latency
    if SERVICE_MODELS[model].takes_latency and latency is not None:
        mean_s, _ = dist_mean_cv(latency)
        if mean_s < MIN_LATENCY_S:
            raise CapsimError(
                f"{source}: service.latency: the mean latency must be at least "
                f"{MIN_LATENCY_S:g} s (got {mean_s:g}): with no service time a replica "
                "serves without limit, and capacity, utilisation and cost per request are "
                "undefined; for an idealised fast server use a small value, e.g. "
                '{ dist = "fixed", value = 0.001 }'
            )
    requests = scenario.requests
    for key, spec in (
        ("prompt_tokens", requests.prompt_tokens),
        ("output_tokens", requests.output_tokens),
    ):
        mean_tokens, _ = dist_mean_cv(spec)
        if mean_tokens < MIN_MEAN_TOKENS:
            raise CapsimError(
                f"{source}: requests.{key}: the mean must be at least {MIN_MEAN_TOKENS:g} "
                f"tokens (got {mean_tokens:g}): every request reads a prompt and writes a token"
            )


def _empirical_files(node: Any, key_path: str) -> list[tuple[str, Empirical]]:
    """Every empirical distribution with a file in a validated scenario, with its key path."""
    if isinstance(node, Empirical):
        return [(key_path, node)] if node.file is not None else []
    if isinstance(node, BaseModel):
        items = [(name, getattr(node, name)) for name in type(node).model_fields]
    elif isinstance(node, list | tuple):
        items = [(str(i), item) for i, item in enumerate(node)]
    else:
        return []
    found = []
    for name, child in items:
        found += _empirical_files(child, f"{key_path}.{name}" if key_path else name)
    return found


def _resolve_files(
    data: dict[str, Any], base_dir: Path, source: str, check: bool = True
) -> dict[str, Any]:
    """A copy of the raw scenario with every relative file reference (the trace, empirical
    distributions' files) made absolute from base_dir, and, if check, shown to exist."""

    def resolve(node: Any, key_path: str) -> Any:
        if isinstance(node, list):
            return [resolve(item, f"{key_path}[{i}]") for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out = {k: resolve(v, f"{key_path}.{k}" if key_path else k) for k, v in node.items()}
        is_file_ref = key_path == "traffic.trace" or node.get("dist") == "empirical"
        if is_file_ref and isinstance(node.get("file"), str):
            path = Path(node["file"])
            if not path.is_absolute():
                path = base_dir / path
            if check and not path.is_file():
                raise CapsimError(
                    f"{source}: {key_path}.file: no such file {str(path)!r} (a relative path "
                    "is read from the scenario file's folder, or from the working directory "
                    "when given by --set)"
                )
            out["file"] = str(path)
        return out

    return resolve(data, "")
