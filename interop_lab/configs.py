"""Render the lab's configuration files (pure functions: data in, file texts out).

Configs are built as ``{section: {option: value}}`` dicts and written by one ini renderer.
The Nova virt driver and its options (:class:`ComputeOptions`) go to ``nova-compute.conf``,
read by nova-compute only (after nova.conf, so it wins): switching the driver restarts
nova-compute and nothing else. Every listener is bound to 127.0.0.1.

>>> text = render_ini({"DEFAULT": {"debug": "false"}})
>>> print(text)
[DEFAULT]
debug = false
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .settings import COMPUTE_HOST, HOST, REGION, LabPaths, Ports, Secrets

Sections = dict[str, dict[str, str]]

FAKE_COMPUTE_DRIVER = "fake.FakeDriverWithoutFakeNodes"  # restart-safe: stable node identity
# interop_lab/nova_driver.py, registered as nova.virt.interop_lab by interop_lab.nova_compute
NETNS_COMPUTE_DRIVER = "interop_lab.NetnsDriver"
VIF_PLUGGING_TIMEOUT = 60  # seconds nova waits for the lab agent to wire a new server's ports


def dataplane_dir(paths: LabPaths) -> Path:
    """The data plane's state (ledger, VM disks), shared by nova-compute, the agent and lab down."""
    return paths.root / "dataplane"


@dataclass(frozen=True)
class ComputeOptions:
    """The pluggable part of Nova: the virt driver and any extra options it needs.

    The default is the lab's netns driver (servers are SSH hosts); ``FAKE_COMPUTE_DRIVER``
    gives servers without a data plane.
    """

    driver: str = NETNS_COMPUTE_DRIVER
    host: str = COMPUTE_HOST
    nova_extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def dataplane(self) -> bool:
        return self.driver == NETNS_COMPUTE_DRIVER


def render_ini(sections: Mapping[str, Mapping[str, str]]) -> str:
    blocks = []
    for section, options in sections.items():
        lines = [f"[{section}]"] + [f"{key} = {value}" for key, value in options.items()]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def merge(base: Sections, extra: Mapping[str, Mapping[str, str]]) -> Sections:
    merged = {section: dict(options) for section, options in base.items()}
    for section, options in extra.items():
        merged.setdefault(section, {}).update(options)
    return merged


@dataclass(frozen=True)
class ConfigContext:
    paths: LabPaths
    ports: Ports
    secrets: Secrets
    compute: ComputeOptions = ComputeOptions()

    def db_url(self, database: str) -> str:
        return f"mysql+pymysql://interop:{self.secrets.database}@{HOST}:{self.ports.mariadb}/{database}"

    @property
    def transport_url(self) -> str:
        return f"rabbit://interop:{self.secrets.rabbitmq}@{HOST}:{self.ports.rabbitmq}/"

    def service_auth(self, user: str) -> dict[str, str]:
        """A keystoneauth password section for service user ``user`` in project ``service``."""
        return {
            "auth_type": "password",
            "auth_url": self.ports.keystone_url,
            "project_domain_name": "Default",
            "user_domain_name": "Default",
            "project_name": "service",
            "username": user,
            "password": self.secrets.service,
            "region_name": REGION,
        }

    def authtoken(self, user: str) -> dict[str, str]:
        return {
            "www_authenticate_uri": self.ports.keystone_url,
            **self.service_auth(user),
            "service_token_roles_required": "true",
        }

    def common(self) -> dict[str, str]:
        # oslo.service waits 60 s by default for a graceful stop; the lab has nothing to drain
        return {"use_stderr": "true", "graceful_shutdown_timeout": "5"}


def keystone_conf(ctx: ConfigContext) -> Sections:
    return {
        "DEFAULT": {"use_stderr": "true"},
        "database": {"connection": ctx.db_url("keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(ctx.paths.data("keystone") / "fernet-keys")},
        "credential": {"key_repository": str(ctx.paths.data("keystone") / "credential-keys")},
    }


def placement_conf(ctx: ConfigContext) -> Sections:
    return {
        "DEFAULT": {"use_stderr": "true"},
        "api": {"auth_strategy": "keystone"},
        "placement_database": {"connection": ctx.db_url("placement")},
        "keystone_authtoken": ctx.authtoken("placement"),
    }


def glance_conf(ctx: ConfigContext) -> Sections:
    data = ctx.paths.data("glance")
    return {
        "DEFAULT": {"use_stderr": "true", "enabled_backends": "fs:file", "workers": "1"},
        "database": {"connection": ctx.db_url("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": f"{data}/images/"},
        "os_glance_staging_store": {"filesystem_store_datadir": f"{data}/staging/"},
        "os_glance_tasks_store": {"filesystem_store_datadir": f"{data}/tasks/"},
        "paste_deploy": {"flavor": "keystone", "config_file": str(ctx.paths.etc / "glance" / "glance-api-paste.ini")},
        "oslo_concurrency": {"lock_path": str(ctx.paths.locks)},
        "keystone_authtoken": ctx.authtoken("glance"),
    }


def neutron_conf(ctx: ConfigContext) -> Sections:
    return {
        "DEFAULT": {
            **ctx.common(),
            "core_plugin": "ml2",
            "service_plugins": "router",
            "auth_strategy": "keystone",
            "transport_url": ctx.transport_url,
            "state_path": str(ctx.paths.data("neutron")),
            "api_paste_config": str(ctx.paths.etc / "neutron" / "api-paste.ini"),
            "api_workers": "1",
            "rpc_workers": "1",
            "rpc_state_report_workers": "1",
            "allow_overlapping_ips": "true",
            "notify_nova_on_port_status_changes": "true",
            "notify_nova_on_port_data_changes": "true",
            # network-vif-plugged (which a server's boot waits for) leaves in batches: every 1 s,
            # not the default 2 s
            "send_events_interval": "1",
        },
        "database": {"connection": ctx.db_url("neutron")},
        "oslo_concurrency": {"lock_path": str(ctx.paths.locks)},
        "oslo_messaging_notifications": {"driver": "noop"},
        "keystone_authtoken": ctx.authtoken("neutron"),
        "nova": ctx.service_auth("nova"),
    }


def ml2_conf(ctx: ConfigContext) -> Sections:
    return {
        "ml2": {
            "type_drivers": "flat,vlan,vxlan,local",
            "tenant_network_types": "vxlan",
            # the real OVS mechanism driver binds ports once an (even fake) OVS agent reports
            "mechanism_drivers": "openvswitch",
            "extension_drivers": "port_security",
        },
        "ml2_type_flat": {"flat_networks": "public"},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
        "securitygroup": {"enable_security_group": "true", "firewall_driver": "openvswitch"},
    }


def nova_conf(ctx: ConfigContext) -> Sections:
    state = ctx.paths.data("nova")
    base: Sections = {
        "DEFAULT": {
            **ctx.common(),
            "host": ctx.compute.host,
            "transport_url": ctx.transport_url,
            "my_ip": HOST,
            "state_path": str(state),
            "instances_path": str(state / "instances"),
        },
        "wsgi": {"api_paste_config": str(ctx.paths.etc / "nova" / "api-paste.ini")},
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": ctx.db_url("nova_api")},
        # cell1 lives in `nova`, so `nova-manage cell_v2 map_cell0` derives `nova_cell0` by
        # itself and no database URL (with its password) appears on a command line
        "database": {"connection": ctx.db_url("nova")},
        "conductor": {"workers": "1"},
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "2"},
        "filter_scheduler": {"enabled_filters": "ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter"},
        "vnc": {"enabled": "false"},
        "oslo_concurrency": {"lock_path": str(ctx.paths.locks)},
        "oslo_messaging_notifications": {"driver": "noop"},
        "glance": {"region_name": REGION},
        "cinder": {"os_region_name": REGION},
        "keystone_authtoken": ctx.authtoken("nova"),
        "placement": ctx.service_auth("placement"),
        "neutron": ctx.service_auth("neutron"),
        "service_user": {**ctx.service_auth("nova"), "send_service_user_token": "true"},
    }
    return base


def nova_compute_conf(ctx: ConfigContext) -> Sections:
    """nova-compute's own options, read after nova.conf: the virt driver and what it needs."""
    compute = ctx.compute
    if compute.dataplane:
        base: Sections = {
            "DEFAULT": {
                "compute_driver": compute.driver,
                # ACTIVE only once the lab agent has wired the ports (security groups, floating
                # IPs): it reports them up, Neutron sends network-vif-plugged
                "vif_plugging_is_fatal": "true",
                "vif_plugging_timeout": str(VIF_PLUGGING_TIMEOUT),
                # after a host reboot (or for servers of another driver) boot the missing VMs
                "resume_guests_state_on_host_boot": "true",
            },
            "interop_lab": {"state_dir": str(dataplane_dir(ctx.paths))},
        }
    else:
        # no agent sends vif-plugged events: do not wait for them
        base = {"DEFAULT": {"compute_driver": compute.driver, "vif_plugging_is_fatal": "false",
                            "vif_plugging_timeout": "0"}}
    return merge(base, compute.nova_extra)


# name -> (port attribute, WSGI module, environment telling the app where its config is)
UWSGI_APPS: dict[str, tuple[str, str]] = {
    "keystone": ("keystone", "keystone.wsgi.api:application"),
    "placement": ("placement", "placement.wsgi.api:application"),
    "glance": ("glance", "glance.wsgi.api:application"),
    "neutron-api": ("neutron", "neutron.wsgi.api:application"),
    "nova-api": ("nova", "nova.wsgi.osapi_compute:application"),
}


def app_env(ctx: ConfigContext, name: str) -> str:
    etc = ctx.paths.etc
    return {
        "keystone": f"OS_KEYSTONE_CONFIG_FILES={etc}/keystone/keystone.conf",
        "placement": f"OS_PLACEMENT_CONFIG_DIR={etc}/placement",
        "glance": f"OS_GLANCE_CONFIG_DIR={etc}/glance",
        "neutron-api": f"OS_NEUTRON_CONFIG_FILES={etc}/neutron/neutron.conf;{etc}/neutron/ml2_conf.ini",
        "nova-api": f"OS_NOVA_CONFIG_DIR={etc}/nova",
    }[name]


def uwsgi_ini(ctx: ConfigContext, name: str) -> Sections:
    port_attr, module = UWSGI_APPS[name]
    return {
        "uwsgi": {
            "http-socket": f"{HOST}:{getattr(ctx.ports, port_attr)}",
            "module": module,
            "env": app_env(ctx, name),
            "home": str(ctx.paths.venv),
            "master": "true",
            # one process, four threads: ample for a lab, and each extra process costs ~100 MiB
            "processes": "1",
            "threads": "4",
            "enable-threads": "true",
            "lazy-apps": "true",
            "die-on-term": "true",
            "exit-on-reload": "false",
            "need-app": "true",
            "buffer-size": "65535",
            "http-keepalive": "false",
            "add-header": "Connection: close",
        }
    }


def rabbitmq_conf(ctx: ConfigContext) -> str:
    # new-style rabbitmq.conf; the default user is created only when mnesia is initialised,
    # which happens together with the secrets (both live in the state dir)
    return "\n".join([
        f"listeners.tcp.default = {HOST}:{ctx.ports.rabbitmq}",
        "default_user = interop",
        f"default_pass = {ctx.secrets.rabbitmq}",
        "default_vhost = /",
        "default_permissions.configure = .*",
        "default_permissions.read = .*",
        "default_permissions.write = .*",
        "management_agent.disable_metrics_collector = true",
        "",
    ])


def render_all(ctx: ConfigContext) -> dict[Path, str]:
    """Every generated config file of the lab, by absolute path."""
    etc = ctx.paths.etc
    files: dict[Path, str] = {
        etc / "keystone" / "keystone.conf": render_ini(keystone_conf(ctx)),
        etc / "placement" / "placement.conf": render_ini(placement_conf(ctx)),
        etc / "glance" / "glance-api.conf": render_ini(glance_conf(ctx)),
        etc / "neutron" / "neutron.conf": render_ini(neutron_conf(ctx)),
        etc / "neutron" / "ml2_conf.ini": render_ini(ml2_conf(ctx)),
        etc / "nova" / "nova.conf": render_ini(nova_conf(ctx)),
        etc / "nova" / "nova-compute.conf": render_ini(nova_compute_conf(ctx)),
        etc / "rabbitmq" / "rabbitmq.conf": rabbitmq_conf(ctx),
        etc / "rabbitmq" / "enabled_plugins": "[].\n",
    }
    for name in UWSGI_APPS:
        files[etc / "uwsgi" / f"{name}.ini"] = render_ini(uwsgi_ini(ctx, name))
    return files


# paste pipelines ship as data files in the venv; the services read them from the state dir
PASTE_FILES = (("glance", "glance-api-paste.ini"), ("neutron", "api-paste.ini"), ("nova", "api-paste.ini"))


def paste_files(paths: LabPaths) -> dict[Path, str]:
    """The paste ini files copied from the venv (``$VENV/etc/<project>/<file>``)."""
    return {
        paths.etc / project / name: (paths.venv / "etc" / project / name).read_text()
        for project, name in PASTE_FILES
    }
