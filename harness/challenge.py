"""The challenge file: which clouds take part, their per-cloud settings, the stack and limits.

Loaded and validated up front, before any cloud is touched, so that a typo fails in a second
with one line naming the file, the cloud and the field, not twenty minutes into a run.

>>> ch = Challenge.model_validate({"clouds": {"lab1": {}}, "defaults": {"nodes": 2}})
>>> ch.settings_for("lab1").nodes
2

A minimal file::

    stack: hosts-patroni          # see `interop run --help` for the registered stacks
    clouds:                       # names from clouds.yaml -> per-cloud overrides ({} for none)
      lab1: {}
      lab2: {flavor: m1.small, floating_ip: none}
    defaults:                     # every cloud, unless it overrides
      image: debian-12            # name or id; left out = discovered from the cloud
      floating_ip: auto           # auto | none | {pool: NAME} | {preallocated: [IP, ...]}
      nodes: 2
      ssh_user: root
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .stacks import DEFAULT_STACK, REGISTRY, known_stacks, load_stack

DEFAULT_CHALLENGE = "challenge.yaml"
PHASE_TIMEOUT_DEFAULTS = {"identity": 60.0}
# What `timeouts:` may bound: provisioning's phases, `peers` (the wait for the other clouds'
# addresses) and the stack's own phases. A misspelt key would otherwise be ignored and leave
# the 600 s default in force.
PROVISION_TIMEOUT_KEYS = ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "peers",
                          "ssh-ready", "survive", "teardown")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatingIpPool(_Strict):
    """Allocate floating IPs from this external network (pool)."""

    pool: str = Field(min_length=1)


class FloatingIpPreallocated(_Strict):
    """Use these existing floating IPs; the harness never releases them."""

    preallocated: list[str] = Field(min_length=1)

    @field_validator("preallocated")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_address(item)  # ValueError -> reported with the field path
        return value


def _parse_floating_ip(value: Any) -> str | FloatingIpPool | FloatingIpPreallocated:
    """One clear message for the four shapes instead of pydantic's per-branch union errors."""
    if isinstance(value, (FloatingIpPool, FloatingIpPreallocated)) or value in ("auto", "none"):
        return value
    if isinstance(value, dict) and set(value) == {"pool"}:
        return FloatingIpPool.model_validate(value)
    if isinstance(value, dict) and set(value) == {"preallocated"}:
        ips = value["preallocated"]
        if not isinstance(ips, list) or not ips:
            raise ValueError(f"preallocated must be a non-empty list of IP addresses, got {ips!r}")
        for item in ips:
            try:
                ipaddress.ip_address(str(item))
            except ValueError:
                raise ValueError(f"preallocated: {item!r} is not an IP address") from None
        return FloatingIpPreallocated(preallocated=[str(i) for i in ips])
    raise ValueError(f"expected auto, none, {{pool: NAME}} or {{preallocated: [IP, ...]}}, got {value!r}")


FloatingIpMode = Annotated[str | FloatingIpPool | FloatingIpPreallocated, PlainValidator(_parse_floating_ip)]


def _check_cidr(value: str | None) -> str | None:
    if value is not None:
        ipaddress.ip_network(value, strict=True)
    return value


class CloudSettings(_Strict):
    """Settings one cloud runs with; every field may be set in `defaults` or per cloud."""

    image: str | None = None
    flavor: str | None = None
    network: str | None = None
    cidr: str | None = None
    floating_ip: FloatingIpMode = "auto"
    nodes: Annotated[int, Field(ge=1, le=50)] = 2
    ssh_user: str = Field(default="root", min_length=1)

    _cidr = field_validator("cidr")(_check_cidr)


class CloudOverrides(_Strict):
    """Per-cloud overrides: only what is given replaces the defaults."""

    image: str | None = None
    flavor: str | None = None
    network: str | None = None
    cidr: str | None = None
    floating_ip: FloatingIpMode | None = None
    nodes: Annotated[int, Field(ge=1, le=50)] | None = None
    ssh_user: str | None = Field(default=None, min_length=1)

    _cidr = field_validator("cidr")(_check_cidr)


class Survival(_Strict):
    """The survive phase: which faults hit each cloud's nodes, the workload, and the thresholds."""

    enabled: bool = True
    faults: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=lambda: ["process-kill", "server-stop"],
                                                              min_length=1)
    # the workload: clients (threads, a connection each), total operations per second
    clients: Annotated[int, Field(ge=1, le=64)] = 4
    rate: Annotated[float, Field(gt=0, le=5000)] = 40.0
    baseline_s: Annotated[float, Field(ge=1, le=600)] = 8.0  # before the first fault: the steady state
    # a fault's effect lasts this long before recovery: longer than Patroni's ttl (20 s) plus a
    # loop (3 s), so a stopped leader is replaced while its server is down, as in a real outage;
    # with a shorter hold the old leader comes back before its key runs out and takes over again
    hold_s: Annotated[float, Field(ge=0, le=600)] = 25.0
    settle_s: Annotated[float, Field(ge=0, le=600)] = 5.0  # after each recovery (at least 5: the recovery check's)
    # verdict thresholds
    max_unavailable_s: Annotated[float, Field(gt=0)] = 30.0
    min_throughput_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    max_lost_writes: Annotated[int, Field(ge=0)] = 0
    max_rejoin_s: Annotated[float, Field(gt=0)] = 60.0


class Challenge(_Strict):
    # what the dashboard and the history call the challenge (default: the file's name)
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    stack: str = DEFAULT_STACK
    clouds: dict[str, CloudOverrides] = Field(min_length=1)
    defaults: CloudSettings = CloudSettings()
    survival: Survival = Survival()
    timeouts: dict[str, Annotated[float, Field(gt=0)]] = {}
    # Rules opening a port to 0.0.0.0/0 must be asked for here, by port, or never happen.
    open_to_world: list[Annotated[int, Field(ge=1, le=65535)]] = []

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, value: str) -> str:
        if value not in REGISTRY:
            raise ValueError(f"unknown stack {value!r} (known: {', '.join(known_stacks())})")
        return value

    @field_validator("timeouts")
    @classmethod
    def _known_timeouts(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        unknown = sorted(set(value) - set(PROVISION_TIMEOUT_KEYS))
        stack = info.data.get("stack")
        if unknown and stack is not None:  # only then is the stack imported: its phases are the other keys
            known = (*PROVISION_TIMEOUT_KEYS, *load_stack(stack).phase_names())
            unknown = [k for k in unknown if k not in known]
            if unknown:
                raise ValueError(f"unknown timeout {', '.join(map(repr, unknown))} "
                                 f"(known for stack {stack}: {', '.join(known)})")
        return value

    @field_validator("survival")
    @classmethod
    def _known_faults(cls, value: Survival, info: ValidationInfo) -> Survival:
        stack = info.data.get("stack")
        if stack is None:
            return value
        from .survive.injectors import known_faults

        known = known_faults(load_stack(stack).faults)
        unknown = [f for f in value.faults if f not in known]
        if unknown:
            raise ValueError(f"faults: unknown fault {', '.join(map(repr, unknown))} "
                             f"(known for stack {stack}: {', '.join(known)})")
        return value

    @model_validator(mode="before")
    @classmethod
    def _empty_clouds(cls, data: Any) -> Any:
        # `lab1:` with nothing after it is YAML null: mean "no overrides", not an error.
        if isinstance(data, dict) and isinstance(data.get("clouds"), dict):
            data = dict(data)
            data["clouds"] = {k: (v if v is not None else {}) for k, v in data["clouds"].items()}
        return data

    def settings_for(self, cloud: str) -> CloudSettings:
        """The defaults with this cloud's overrides applied."""
        if cloud not in self.clouds:
            raise ConfigError(f"cloud {cloud!r} is not in the challenge file (has: {', '.join(self.clouds)})")
        overrides = self.clouds[cloud]
        given = {k: getattr(overrides, k) for k in overrides.model_fields_set}
        merged = {k: getattr(self.defaults, k) for k in CloudSettings.model_fields}
        merged.update({k: v for k, v in given.items() if v is not None})
        return CloudSettings(**merged)

    def timeout(self, phase: str) -> float:
        return self.timeouts.get(phase, PHASE_TIMEOUT_DEFAULTS.get(phase, 600.0))

    def cloud_names(self) -> list[str]:
        return list(self.clouds)

    def select(self, wanted: str | None) -> list[str]:
        """The challenge's clouds, or the ``--clouds a,b`` subset of them (unknown names are an error)."""
        names = self.cloud_names()
        if not wanted:
            return names
        picked = [n.strip() for n in wanted.split(",") if n.strip()]
        unknown = [n for n in picked if n not in names]
        if unknown:
            raise ConfigError(f"--clouds: {', '.join(unknown)} not in the challenge file (has: {', '.join(names)})")
        return picked


def challenge_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--challenge, else $INTEROP_CHALLENGE, else ./challenge.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("INTEROP_CHALLENGE")
    return Path(env) if env else Path(DEFAULT_CHALLENGE)


def _field_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        text = str(item)
        # pydantic names union branches ("FloatingIpPool", "literal[...]"); the user never wrote those
        if text[:1].isupper() or "[" in text or text in ("str", "int", "float", "bool", "none"):
            continue
        parts.append(text)
    return ".".join(parts) or "(top level)"


def _describe(path: Path, exc: ValidationError) -> str:
    seen: dict[str, str] = {}
    for err in exc.errors():
        field = _field_path(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        if err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        elif "input" in err and err["type"] != "extra_forbidden" and not isinstance(err["input"], dict):
            message += f" (got {err['input']!r})"
        seen.setdefault(field, message)
    return "; ".join(f"{path}: {field}: {msg}" for field, msg in seen.items())


def parse_challenge(data: Any, path: Path) -> Challenge:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Challenge.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None


def load_challenge(path: str | os.PathLike[str] | None = None, known_clouds: Iterable[str] | None = None) -> Challenge:
    """Read and validate the challenge file; with ``known_clouds``, every cloud must be one of them."""
    file = challenge_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: challenge file not found (give --challenge FILE or set INTEROP_CHALLENGE)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read challenge file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    challenge = parse_challenge(data, file)
    if known_clouds is not None:
        known = sorted(known_clouds)
        for name in challenge.clouds:
            if name not in known:
                raise ConfigError(
                    f"{file}: clouds.{name}: cloud {name!r} is not in clouds.yaml"
                    f" (known: {', '.join(known) or 'none'})",
                    cloud=None,
                )
    return challenge
