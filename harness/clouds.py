"""clouds.yaml -> one openstacksdk Connection per cloud, and the identity check.

openstacksdk owns the clouds.yaml format (search path, secure.yaml, envvars); we only find the
file it would use, so errors can name it, and translate its exceptions into ours here, at the
one place we call it for authentication.

>>> cfg = CloudsConfig.load("tests/data/clouds.yaml")  # doctest: +SKIP
>>> cfg.names()                                         # doctest: +SKIP
['lab1', 'lab2']
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import AuthError, CloudError, ConfigError, HarnessError, UnreachableError

# Bounded: without it a black-holed endpoint holds a worker for keystoneauth's default (none).
DEFAULT_API_TIMEOUT = 30.0


@dataclass(frozen=True)
class CloudsConfig:
    """The clouds.yaml openstacksdk resolves to, and the cloud names in it."""

    path: Path | None
    _config: Any = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> CloudsConfig:
        from openstack.config import loader  # heavy import: only when needed

        if path is not None:
            file = Path(path)
            if not file.is_file():
                raise ConfigError(f"clouds.yaml not found: {file}")
            files = [str(file)]
        else:
            env = os.environ.get("OS_CLIENT_CONFIG_FILE")
            if env and not Path(env).is_file():
                raise ConfigError(f"clouds.yaml not found: {env} (from OS_CLIENT_CONFIG_FILE)")
            files = ([env] if env else []) + list(loader.CONFIG_FILES)
        try:
            # load_envvars=False: a stray OS_* in the environment must not become a hidden cloud,
            # and it also stops openstacksdk reading OS_CLIENT_CONFIG_FILE, which we did above.
            config = loader.OpenStackConfig(config_files=files, load_envvars=False)
        except Exception as exc:  # openstacksdk raises its own for YAML and schema errors
            where = files[0] if files else "default search path"
            raise ConfigError(f"cannot read clouds.yaml ({where}): {exc}") from exc
        found = getattr(config, "config_filename", None)
        if not found:
            raise ConfigError("clouds.yaml not found (searched " + ", ".join(files) + ")")
        return cls(Path(found), config)

    def names(self) -> list[str]:
        return sorted(self._config.cloud_config.get("clouds", {}))

    def require(self, cloud: str) -> None:
        if cloud not in self.names():
            raise ConfigError(
                f"cloud {cloud!r} is not in {self.path} (known: {', '.join(self.names()) or 'none'})",
                cloud=cloud,
            )

    def auth_url(self, cloud: str) -> str:
        self.require(cloud)
        auth = self._config.cloud_config["clouds"][cloud].get("auth", {})
        return str(auth.get("auth_url", ""))

    def connect(self, cloud: str, *, api_timeout: float = DEFAULT_API_TIMEOUT, phase: str | None = None) -> Any:
        """A new openstacksdk Connection (one per cloud per worker: they are not shared)."""
        import openstack.connection

        self.require(cloud)
        try:
            region = self._config.get_one(cloud=cloud, api_timeout=api_timeout)
        except Exception as exc:
            raise ConfigError(f"{self.path}: clouds.{cloud}: {exc}", cloud=cloud, phase=phase) from exc
        return openstack.connection.Connection(config=region)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def translate(exc: BaseException, *, cloud: str, phase: str, doing: str) -> HarnessError:
    """Map keystoneauth/openstacksdk exceptions onto ours with a reason a user can act on."""
    from keystoneauth1 import exceptions as ks

    for item in _chain(exc):
        if isinstance(item, HarnessError):
            return item
        status = getattr(item, "http_status", None) or getattr(item, "status_code", None)
        if isinstance(item, ks.Unauthorized) or status == 401:
            return AuthError(f"authentication refused while {doing} (HTTP 401): check username, password and project",
                             cloud=cloud, phase=phase)
        if isinstance(item, ks.ConnectTimeout):
            return UnreachableError(f"endpoint timed out while {doing}: {item}", cloud=cloud, phase=phase)
        if isinstance(item, (ks.ConnectFailure, ks.SSLError)):
            return UnreachableError(f"endpoint unreachable while {doing}: {item}", cloud=cloud, phase=phase)
        if isinstance(item, ks.DiscoveryFailure):
            return UnreachableError(f"no usable identity endpoint while {doing}: {item}", cloud=cloud, phase=phase)
    return CloudError(f"{doing} failed: {type(exc).__name__}: {exc}", cloud=cloud, phase=phase)


def refstack_cpid(catalog: list[dict[str, Any]], auth_url: str) -> str:
    """The cloud provider id RefStack uses: Keystone's own catalog id, else md5 of the auth host."""
    for service in catalog:
        if service.get("type") == "identity" and service.get("id"):
            return str(service["id"])
    host = urlparse(auth_url).hostname or auth_url
    return hashlib.md5(host.encode(), usedforsecurity=False).hexdigest()


@dataclass
class IdentityResult:
    cloud: str
    auth_url: str
    region: str | None
    project_id: str
    services: list[str]
    cpid: str
    auth_seconds: float
    catalog_seconds: float

    def as_details(self) -> dict[str, Any]:
        return {
            "auth_url": self.auth_url,
            "region": self.region,
            "project_id": self.project_id,
            "services": self.services,
            "cpid": self.cpid,
            "auth_seconds": round(self.auth_seconds, 4),
            "catalog_seconds": round(self.catalog_seconds, 4),
        }


def check_identity(conn: Any, cloud: str, *, phase: str = "identity") -> IdentityResult:
    """Authenticate, read the service catalog and derive the cpid; errors name the cloud."""
    t0 = time.perf_counter()
    try:
        conn.authorize()
    except Exception as exc:
        raise translate(exc, cloud=cloud, phase=phase, doing="authenticating") from exc
    t1 = time.perf_counter()
    try:
        access = conn.session.auth.get_access(conn.session)
        catalog = list(access.service_catalog.catalog or [])
        project_id = access.project_id
    except Exception as exc:
        raise translate(exc, cloud=cloud, phase=phase, doing="reading the service catalog") from exc
    t2 = time.perf_counter()
    if not catalog:
        raise CloudError("the service catalog is empty", cloud=cloud, phase=phase)
    auth_url = str(conn.config.get_auth_args().get("auth_url", ""))
    return IdentityResult(
        cloud=cloud,
        auth_url=auth_url,
        region=conn.config.region_name,
        project_id=str(project_id),
        services=sorted({str(s.get("type")) for s in catalog}),
        cpid=refstack_cpid(catalog, auth_url),
        auth_seconds=t1 - t0,
        catalog_seconds=t2 - t1,
    )
