"""Read a scenario file (path or bundled name), apply `--set` overrides, validate.

Every failure becomes one CapsimError that names the file, the key path, the bad
value and what is allowed.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from scenarios import bundled_scenario_names, bundled_scenario_path
from sim.catalog import find_price, gpu_spec, load_catalog
from sim.errors import CapsimError
from sim.scenario import Scenario


def load_scenario(ref: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Load and validate a scenario from a path or a bundled scenario's name."""
    path = resolve_scenario_path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CapsimError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CapsimError(f"{path}: not valid TOML: {exc}") from None
    for override in overrides:
        apply_override(data, override)
    return validate_scenario(data, source=str(path), base_dir=path.parent)


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


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set `key.path=value` in a raw scenario dict; the value is read as TOML if it can be."""
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


def parse_override_value(raw: str) -> Any:
    """A TOML value (number, string, bool, array, inline table), else the bare string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def validate_scenario(data: dict[str, Any], source: str, base_dir: Path | None = None) -> Scenario:
    """Validate a raw dict against the schema and the catalog; one clear error if not."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise CapsimError(format_validation_error(exc, source, data)) from None
    _check_catalog(scenario, source)
    if base_dir is not None:
        scenario = _resolve_files(scenario, base_dir, source)
    return scenario


def format_validation_error(exc: ValidationError, source: str, data: dict[str, Any]) -> str:
    """The first problem pydantic found, said in the user's terms."""
    lines = []
    for error in exc.errors(include_url=False)[:3]:
        loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
        key_path = ".".join(loc) or "(top level)"
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            hint = difflib.get_close_matches(loc[-1], allowed, n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            lines.append(
                f"{source}: unknown key {key_path!r}.{suggestion} "
                f"Allowed here: {', '.join(allowed)}"
            )
            continue
        value = _lookup(data, error["loc"])
        shown = f" (got {value!r})" if value is not _MISSING else ""
        message = error["msg"].removeprefix("Value error, ")
        if kind == "missing":
            message = "is required"
        lines.append(f"{source}: {key_path}: {message}{shown}")
    if len(exc.errors()) > 3:
        lines.append(f"... and {len(exc.errors()) - 3} more problems")
    return "\n".join(lines)


_MISSING = object()


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in {
        "fixed",
        "exponential",
        "lognormal",
        "gamma",
        "uniform",
        "empirical",
    }


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


def _allowed_keys(loc: list[str]) -> list[str]:
    """The keys the schema accepts at a section path."""
    model: type[BaseModel] = Scenario
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = _model_in(annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


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
    if scenario.pricing.gpu_usd_per_hour is None and not scenario.api.use:
        for market in _markets_used(scenario):
            try:
                find_price(fleet.gpu, fleet.provider, market)
            except CapsimError as exc:
                raise CapsimError(f"{source}: fleet.market: {exc}") from None


def _markets_used(scenario: Scenario) -> list[str]:
    fleet = scenario.fleet
    if scenario.autoscaling.policy == "serverless" or fleet.market == "serverless":
        return [] if scenario.pricing.serverless_usd_per_s is not None else ["serverless"]
    markets = [fleet.market]
    if fleet.spot_fraction is not None and 0 < fleet.spot_fraction < 1:
        markets = ["on-demand", "spot"]
    if fleet.market == "reserved" and scenario.pricing.reserved_usd_per_hour is not None:
        markets = []
    return markets


def _resolve_files(scenario: Scenario, base_dir: Path, source: str) -> Scenario:
    """Make file references absolute (relative to the scenario file) and check they exist."""
    trace = scenario.traffic.trace
    if trace is None:
        return scenario
    path = Path(trace.file)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise CapsimError(f"{source}: traffic.trace.file: no such file {str(path)!r}")
    new_trace = trace.model_copy(update={"file": str(path)})
    new_traffic = scenario.traffic.model_copy(update={"trace": new_trace})
    return scenario.model_copy(update={"traffic": new_traffic})
