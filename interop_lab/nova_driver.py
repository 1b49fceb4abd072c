"""The lab's Nova virt driver: every server is a namespace "VM" running sshd (out of tree).

Loaded only by the lab's nova-compute, in the LAB venv (nova lives there, not in the
harness's venv). Nova 34 loads drivers as ``importutils.import_object('nova.virt.' +
compute_driver)``, so a dotted path outside ``nova.virt`` cannot be named in nova.conf;
:mod:`interop_lab.nova_compute` (the service's entry point, run with ``interop_lab`` on
``PYTHONPATH``) registers this module as ``nova.virt.interop_lab`` and runs the stock
nova-compute, and nova-compute.conf says ``compute_driver = interop_lab.NetnsDriver``.

What Nova calls, and what a server then is (:mod:`interop_lab.dataplane.vm`):

* spawn: a VM named by the instance uuid with the keypair as root's key and one NIC per
  Neutron port (MAC, fixed IP, gateway, MTU) on its network's bridge; it starts behind a
  drop-all firewall. Nova waits for ``network-vif-plugged``, which the lab agent
  (:mod:`interop_lab.agent`) triggers only once the port's security groups and floating IPs
  are in place, so ACTIVE means "sshd answers where the security groups allow it".
* power_off: every process killed (the namespace, its firewall and files stay); power_on,
  reboot (soft and hard): booted again with the files kept; destroy: nothing left.
* get_info: RUNNING / SHUTDOWN from the VM's processes, InstanceNotFound without a VM.
* get_console_output: the VM's console (its init script and sshd's log).
* resume_state_on_host_boot (``resume_guests_state_on_host_boot = true``): after a host
  reboot, or when a server created under another driver has no VM yet, it is booted (adopted).

Resources (placement inventory, hypervisor stats) stay the fake driver's: a VM costs ~11 MiB.
"""

from __future__ import annotations

import time
from typing import Any

from nova import exception
from nova.compute import power_state
from nova.virt import fake, hardware
from oslo_config import cfg
from oslo_log import log as logging

from harness.errors import LabError, PhaseTimeout
from interop_lab import translate
from interop_lab.dataplane.vm import VmHost

CONF = cfg.CONF
CONF.register_opts([
    cfg.StrOpt("state_dir", help="The lab data plane's state directory (ledger, VM disks); the lab agent "
                                 "and `interop lab down` use the same one."),
    cfg.FloatOpt("boot_timeout", default=30.0, min=1.0, help="Seconds for a VM's sshd to answer after boot."),
], group="interop_lab")
LOG = logging.getLogger(__name__)


class NetnsDriver(fake.FakeDriverWithoutFakeNodes):  # nova: lab venv only
    """Servers as network namespaces with sshd; resources reported as by the fake driver."""

    capabilities = {
        **fake.FakeDriver.capabilities,
        # a VM's NICs are fixed at boot, and there is one host to evacuate to
        "supports_attach_interface": False,
        "supports_tagged_attach_interface": False,
        "supports_evacuate": False,
    }

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        if not CONF.interop_lab.state_dir:
            raise exception.NovaException("[interop_lab] state_dir is not set in nova-compute's config")
        self.vms = VmHost(CONF.interop_lab.state_dir, boot_timeout=CONF.interop_lab.boot_timeout)

    # ---- host ---------------------------------------------------------------------------
    def init_host(self, host: str) -> None:
        super().init_host(host)
        names = self.vms.names()
        for name in names:  # the fake driver's bookkeeping (snapshot, diagnostics) knows them too
            self.instances[name] = fake.FakeInstance(name, power_state.RUNNING, name)
        LOG.info("interop lab driver: %d VM(s) in %s", len(names), self.vms.state_dir)

    def list_instances(self) -> list[str]:
        return self.vms.names()

    def list_instance_uuids(self) -> list[str]:
        return self.vms.names()

    def plug_vifs(self, instance: Any, network_info: Any) -> None:
        """Nothing: a VM's NICs are plugged when it boots."""

    def unplug_vifs(self, instance: Any, network_info: Any) -> None:
        """Nothing: destroy removes the NICs with the VM."""

    # ---- lifecycle ----------------------------------------------------------------------
    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any, admin_password: Any,
              allocations: Any, network_info: Any = None, block_device_info: Any = None, power_on: bool = True,
              accel_info: Any = None) -> None:
        vifs = list(network_info or [])
        spec = self._spec(instance, vifs)  # refuse an unsupported server before claiming anything
        super().spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                      network_info=network_info, block_device_info=block_device_info, power_on=power_on,
                      accel_info=accel_info)
        timeout = CONF.vif_plugging_timeout
        events = translate.vif_plugged_events(vifs) if power_on and timeout else []
        started = time.monotonic()
        try:
            with self.virtapi.wait_for_instance_event(instance, events, timeout=timeout,
                                                      error_callback=self._neutron_failed):
                booted = self._call(instance, "boot", self.vms.boot, spec)
                sshd = time.monotonic() - started
        except exception.InstanceEventTimeout:
            LOG.warning("no network-vif-plugged from Neutron within %ss (is the lab agent running?)", timeout,
                        instance=instance)
            if CONF.vif_plugging_is_fatal:
                self.vms.destroy(instance.uuid)
                raise exception.VirtualInterfaceCreateException() from None
        except Exception:
            self.vms.destroy(instance.uuid)
            raise
        if not power_on:
            self.vms.stop(instance.uuid)
        LOG.info("VM %s up: sshd answered after %.2fs, ports ACTIVE after %.2fs", booted.netns, sshd,
                 time.monotonic() - started, instance=instance)

    def destroy(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                destroy_disks: bool = True, destroy_secrets: bool = True) -> None:
        if instance.uuid in self.vms.names():
            if destroy_disks:
                self._call(instance, "destroy", self.vms.destroy, instance.uuid)
            else:
                self._call(instance, "stop", self.vms.stop, instance.uuid)
        if instance.uuid in self.instances:  # else the fake driver only warns that it never saw it
            super().destroy(context, instance, network_info, block_device_info, destroy_disks, destroy_secrets)

    def power_off(self, instance: Any, timeout: int = 0, retry_interval: int = 0) -> None:
        if instance.uuid in self.vms.names():
            self._call(instance, "stop", self.vms.stop, instance.uuid)
        self._remember(instance, power_state.SHUTDOWN)

    def power_on(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                 accel_info: Any = None, share_info: Any = None) -> None:
        self._start(instance, network_info)

    def reboot(self, context: Any, instance: Any, network_info: Any, reboot_type: str, block_device_info: Any = None,
               bad_volumes_callback: Any = None, accel_info: Any = None, share_info: Any = None) -> None:
        self._start(instance, network_info)  # soft and hard alike: every process restarts, files stay

    def resume_state_on_host_boot(self, context: Any, instance: Any, network_info: Any, share_info: Any,
                                  block_device_info: Any = None) -> None:
        self._start(instance, network_info)

    # ---- state --------------------------------------------------------------------------
    def get_info(self, instance: Any, use_cache: bool = True) -> hardware.InstanceInfo:
        try:
            state = self.vms.state(instance.uuid)
        except LabError as exc:
            raise exception.InstanceNotFound(instance_id=instance.uuid) from exc
        return hardware.InstanceInfo(state=power_state.RUNNING if state.running else power_state.SHUTDOWN)

    def get_console_output(self, context: Any, instance: Any) -> bytes:
        if instance.uuid not in self.vms.names():
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        return self.vms.console_log(instance.uuid).encode()

    # ---- internals ----------------------------------------------------------------------
    @staticmethod
    def _spec(instance: Any, network_info: Any) -> Any:
        try:
            return translate.vm_spec(instance.uuid, instance.hostname, instance.key_data, network_info or [])
        except ValueError as exc:  # UnsupportedServer included: say why, the build fails
            raise exception.InstanceDeployFailure(reason=str(exc), instance_id=instance.uuid) from exc

    def _start(self, instance: Any, network_info: Any) -> None:
        """Boot the VM again (files kept); a server without a VM yet (another driver's) is adopted."""
        if instance.uuid in self.vms.names():
            self._call(instance, "start", self.vms.start, instance.uuid)
        else:
            LOG.info("no VM for this server yet: booting one for it", instance=instance)
            self._call(instance, "boot", self.vms.boot, self._spec(instance, network_info))
        self._remember(instance, power_state.RUNNING)

    def _remember(self, instance: Any, state: int) -> None:
        self.instances[instance.uuid] = fake.FakeInstance(instance.name, state, instance.uuid)

    @staticmethod
    def _call(instance: Any, what: str, action: Any, *args: Any) -> Any:
        """Run a data-plane action; its failures become a NovaException with the reason."""
        try:
            return action(*args)
        except (LabError, PhaseTimeout) as exc:
            LOG.error("VM %s failed: %s", what, exc, instance=instance)
            raise exception.NovaException(f"lab VM {what} failed: {exc}") from exc

    @staticmethod
    def _neutron_failed(event_name: str, instance: Any) -> None:
        LOG.error("Neutron reported failure on event %s", event_name, instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise exception.VirtualInterfaceCreateException()
