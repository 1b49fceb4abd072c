"""Image, flavor and external network: as configured, or discovered from the cloud.

Clouds differ (image names, flavor sizes, external networks); in 2017 every vendor wrote a vars
file by hand. When the challenge file names something, it is looked up by name or id and a
missing one is a clear error listing what the cloud has; when it leaves it out, it is
discovered: an active image matching the stack's OS, the smallest flavor meeting the stack's
minimums (and the image's own min_ram/min_disk), the external network. Every choice says how
it was made, and goes into the record.

The stack says what it needs (:class:`~harness.stacks.base.Needs`)::

    resolve_flavor(ctx, None, load_stack("hosts-patroni"))  # >= 512 MB, 1 vCPU, 1 GB
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import CloudError
from ..stacks.base import Stack
from .context import Context


@dataclass(frozen=True)
class Choice:
    id: str
    name: str
    how: str  # "configured" | "discovered"
    note: str = ""
    min_ram_mb: int = 0  # an image's own minimums, which the flavor must meet too
    min_disk_gb: int = 0

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


def _names(items: list[Any], limit: int = 8) -> str:
    names = sorted(str(getattr(i, "name", None) or getattr(i, "id", "?")) for i in items)
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more or "none"


def _os_rank(image: Any, wanted: tuple[str, ...]) -> int | None:
    distro = str(getattr(image, "os_distro", "") or "").lower()
    name = str(getattr(image, "name", "") or "").lower()
    for rank, os_name in enumerate(wanted):
        if distro == os_name or re.search(rf"\b{re.escape(os_name)}\b", name):
            return rank
    return None


def resolve_image(ctx: Context, wanted: str | None, stack: Stack) -> Choice:
    """The configured image (must exist and be active), else the best active match for the stack."""
    if wanted:
        image = ctx.call(ctx.conn.image.find_image, wanted, ignore_missing=True, doing=f"looking up image {wanted}")
        if image is None:
            images = ctx.list(ctx.conn.image.images, doing="listing images")
            raise CloudError(f"image {wanted!r} not found on this cloud (images here: {_names(images)})",
                             cloud=ctx.cloud, phase=ctx.phase)
        if getattr(image, "status", "active") != "active":
            raise CloudError(f"image {wanted!r} is {image.status}, not active", cloud=ctx.cloud, phase=ctx.phase)
        return Choice(image.id, image.name, "configured", min_ram_mb=_int(image, "min_ram"),
                      min_disk_gb=_int(image, "min_disk"))
    images = ctx.list(ctx.conn.image.images, doing="listing images")
    needs = stack.needs
    ranked = [(rank, i) for i in images
              if getattr(i, "status", "active") == "active" and (rank := _os_rank(i, needs.os)) is not None]
    if not ranked:
        raise CloudError(f"no active image matches {'/'.join(needs.os)} for stack {stack.name}; set `image:` in the "
                         f"challenge file (images here: {_names(images)})", cloud=ctx.cloud, phase=ctx.phase)
    ranked.sort(key=lambda ri: str(getattr(ri[1], "created_at", "") or ""), reverse=True)  # newest first,
    ranked.sort(key=lambda ri: ri[0])  # then (stable) by the stack's OS preference
    image = ranked[0][1]
    return Choice(image.id, image.name, "discovered", f"matches {needs.os[ranked[0][0]]}; {len(ranked)} candidate(s)",
                  min_ram_mb=_int(image, "min_ram"), min_disk_gb=_int(image, "min_disk"))


def _int(obj: Any, attr: str) -> int:
    try:
        return int(getattr(obj, attr, 0) or 0)
    except (TypeError, ValueError):
        return 0


def resolve_flavor(ctx: Context, wanted: str | None, stack: Stack, image: Choice | None = None) -> Choice:
    """The configured flavor (must exist), else the smallest one meeting the stack's (and image's) minimums."""
    needs = stack.needs
    min_ram = max(needs.min_ram_mb, image.min_ram_mb if image else 0)
    min_disk = max(needs.min_disk_gb, image.min_disk_gb if image else 0)
    if wanted:
        flavor = ctx.call(ctx.conn.compute.find_flavor, wanted, ignore_missing=True,
                          doing=f"looking up flavor {wanted}")
        if flavor is None:
            flavors = ctx.list(ctx.conn.compute.flavors, details=True, doing="listing flavors")
            raise CloudError(f"flavor {wanted!r} not found on this cloud (flavors here: {_names(flavors)})",
                             cloud=ctx.cloud, phase=ctx.phase)
        small = flavor.ram < min_ram or flavor.vcpus < needs.min_vcpus or 0 < flavor.disk < min_disk
        note = f"below the stack's minimum {min_ram} MB / {needs.min_vcpus} vCPU / {min_disk} GB" if small else ""
        return Choice(flavor.id, flavor.name, "configured", note)
    flavors = ctx.list(ctx.conn.compute.flavors, details=True, doing="listing flavors")
    fit = [f for f in flavors if f.ram >= min_ram and f.vcpus >= needs.min_vcpus and f.disk >= min_disk]
    if not fit:
        raise CloudError(f"no flavor has at least {min_ram} MB RAM, {needs.min_vcpus} vCPU and {min_disk} GB disk "
                         f"for stack {stack.name}; set `flavor:` in the challenge file "
                         f"(flavors here: {_names(flavors)})",
                         cloud=ctx.cloud, phase=ctx.phase)
    flavor = min(fit, key=lambda f: (f.vcpus, f.ram, f.disk, f.name))
    return Choice(flavor.id, flavor.name, "discovered",
                  f"smallest of {len(fit)} with >= {min_ram} MB, {needs.min_vcpus} vCPU, {min_disk} GB")


def external_network(ctx: Context, wanted: str | None = None) -> Choice | None:
    """The named external network (a floating IP pool), else the only/first one; None if none."""
    nets = ctx.list(ctx.conn.network.networks, is_router_external=True, doing="listing external networks")
    if wanted:
        match = [n for n in nets if wanted in (n.id, n.name)]
        if not match:
            raise CloudError(f"floating IP pool {wanted!r} is not an external network here "
                             f"(external networks: {_names(nets)})", cloud=ctx.cloud, phase=ctx.phase)
        return Choice(match[0].id, match[0].name, "configured")
    if not nets:
        return None
    nets.sort(key=lambda n: (n.name != "public", n.name or "", n.id))
    note = "" if len(nets) == 1 else f"first of {len(nets)}: {_names(nets)}"
    return Choice(nets[0].id, nets[0].name, "discovered", note)


def propose(ctx: Context, stack: Stack) -> dict[str, Any]:
    """What ``interop clouds --discover`` prints for one cloud: settings plus a note per setting."""
    settings: dict[str, Any] = {}
    notes: dict[str, str] = {}
    image: Choice | None = None
    try:
        image = resolve_image(ctx, None, stack)
        settings["image"] = image.name
        notes["image"] = image.note
    except CloudError as exc:
        settings["image"] = None
        notes["image"] = exc.message
    try:
        flavor = resolve_flavor(ctx, None, stack, image)
        settings["flavor"] = flavor.name
        notes["flavor"] = flavor.note
    except CloudError as exc:
        settings["flavor"] = None
        notes["flavor"] = exc.message
    ext = external_network(ctx)
    if ext is None:
        settings["floating_ip"] = "none"
        notes["floating_ip"] = "no external network: servers need a routable `network:`"
    else:
        settings["floating_ip"] = "auto"
        notes["floating_ip"] = f"external network {ext.name}" + (f" ({ext.note})" if ext.note else "")
    return {"settings": settings, "notes": notes}
