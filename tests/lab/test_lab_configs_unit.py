"""Config rendering, generated files and settings of the lab, without a lab."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest
import yaml

from harness.challenge import load_challenge
from harness.errors import LabError
from interop_lab import default_state_dir, lab_env
from interop_lab.configs import (
    FAKE_COMPUTE_DRIVER,
    NETNS_COMPUTE_DRIVER,
    ComputeOptions,
    ConfigContext,
    render_all,
    render_ini,
)
from interop_lab.content import Tenant
from interop_lab.outputs import cloud_names, write_outputs
from interop_lab.plan import (
    START_ORDER,
    STOP_TIERS,
    Drivers,
    ensure_python_path,
    python_path,
    service_configs,
    service_specs,
)
from interop_lab.services import ServiceSpec
from interop_lab.settings import LabPaths, Ports, Secrets, new_password, open_lab


@pytest.fixture
def paths(tmp_path: Path) -> LabPaths:
    return LabPaths.create(tmp_path / "lab")


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def rendered(paths: LabPaths, compute: ComputeOptions | None = None) -> dict[str, str]:
    ctx = ConfigContext(paths, Ports(), Secrets(), compute or ComputeOptions())
    return {str(path.relative_to(paths.etc)): text for path, text in render_all(ctx).items()}


def test_render_ini_is_plain_ini() -> None:
    text = render_ini({"DEFAULT": {"a": "1"}, "db": {"connection": "mysql+pymysql://u:p@h/x"}})
    assert text == "[DEFAULT]\na = 1\n\n[db]\nconnection = mysql+pymysql://u:p@h/x\n"


def test_every_ini_parses_and_every_api_binds_loopback(paths: LabPaths) -> None:
    files = rendered(paths)
    for name, text in files.items():
        if name.endswith((".conf", ".ini")) and not name.startswith("rabbitmq"):
            parse(text)
    for app in ("keystone", "placement", "glance", "neutron-api", "nova-api"):
        assert parse(files[f"uwsgi/{app}.ini"])["uwsgi"]["http-socket"].startswith("127.0.0.1:")
    assert "listeners.tcp.default = 127.0.0.1:5672" in files["rabbitmq/rabbitmq.conf"]


def test_configs_carry_the_generated_secrets_and_no_fixed_word(paths: LabPaths) -> None:
    secrets = Secrets()
    ctx = ConfigContext(paths, Ports(), secrets)
    files = {str(p.relative_to(paths.etc)): t for p, t in render_all(ctx).items()}
    nova = parse(files["nova/nova.conf"])
    assert secrets.database in nova["database"]["connection"]
    assert secrets.rabbitmq in nova["DEFAULT"]["transport_url"]
    assert nova["keystone_authtoken"]["password"] == secrets.service
    assert "guest" not in files["nova/nova.conf"] and "secret" not in "".join(files.values()).lower()


def test_compute_driver_and_extra_options_are_pluggable(paths: LabPaths) -> None:
    files = rendered(paths)
    nova, compute = parse(files["nova/nova.conf"]), parse(files["nova/nova-compute.conf"])
    # the driver lives in nova-compute's own file: switching it restarts nova-compute only
    assert "compute_driver" not in nova["DEFAULT"]
    assert compute["DEFAULT"]["compute_driver"] == NETNS_COMPUTE_DRIVER
    assert compute["DEFAULT"]["vif_plugging_is_fatal"] == "true"
    assert int(compute["DEFAULT"]["vif_plugging_timeout"]) > 0
    assert compute["DEFAULT"]["resume_guests_state_on_host_boot"] == "true"
    assert compute["interop_lab"]["state_dir"] == str(paths.root / "dataplane")
    fake = parse(rendered(paths, ComputeOptions(driver=FAKE_COMPUTE_DRIVER))["nova/nova-compute.conf"])
    assert fake["DEFAULT"]["compute_driver"] == FAKE_COMPUTE_DRIVER
    assert fake["DEFAULT"]["vif_plugging_timeout"] == "0" and "interop_lab" not in fake
    custom = ComputeOptions(driver="netns.NetnsDriver", nova_extra={"netns": {"bridge_prefix": "brq"}})
    files = rendered(paths, custom)
    compute = parse(files["nova/nova-compute.conf"])
    assert compute["DEFAULT"]["compute_driver"] == "netns.NetnsDriver"
    assert compute["netns"]["bridge_prefix"] == "brq"
    assert parse(files["nova/nova.conf"])["DEFAULT"]["host"] == nova["DEFAULT"]["host"]
    secrets = Secrets()
    nova_conf = {name: render_all(ConfigContext(paths, Ports(), secrets, c))[paths.etc / "nova" / "nova.conf"]
                 for name, c in (("netns", ComputeOptions()), ("custom", custom))}
    assert nova_conf["netns"] == nova_conf["custom"]


def test_python_path_links_the_lab_and_harness_packages(paths: LabPaths, tmp_path: Path) -> None:
    import harness
    import interop_lab

    paths.make_dirs()
    pythonpath = python_path(paths)
    assert pythonpath.parent == paths.root  # never a site-packages: its libraries would shadow the lab venv's
    assert sorted(ensure_python_path(paths)) == ["harness", "interop_lab"]
    links = {entry.name: entry for entry in pythonpath.iterdir()}
    assert sorted(links) == ["harness", "interop_lab"]
    assert links["interop_lab"].resolve() == Path(interop_lab.__file__).resolve().parent
    assert links["harness"].resolve() == Path(harness.__file__).resolve().parent
    assert ensure_python_path(paths) == []  # idempotent
    # an older lab's directory: one `harness` link, pointing at another checkout
    (pythonpath / "interop_lab").unlink()
    (pythonpath / "harness").unlink()
    (tmp_path / "old" / "harness").mkdir(parents=True)
    (pythonpath / "harness").symlink_to(tmp_path / "old" / "harness")
    (pythonpath / "stale").symlink_to(tmp_path / "old")
    assert sorted(ensure_python_path(paths)) == ["harness", "interop_lab"]
    assert sorted(e.name for e in pythonpath.iterdir()) == ["harness", "interop_lab"]
    assert (pythonpath / "harness").resolve() == Path(harness.__file__).resolve().parent
    (pythonpath / "harness").unlink()
    (pythonpath / "harness").mkdir()
    with pytest.raises(LabError, match="not a symlink"):
        ensure_python_path(paths)


def test_dataplane_is_the_default_and_fake_is_selectable(paths: LabPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEROP_LAB_DATAPLANE", raising=False)
    netns = service_specs(paths, Ports(), Drivers.from_env())
    assert netns["nova-compute"].argv[1:3] == ("-m", "interop_lab.nova_compute")
    assert netns["neutron-agent"].argv[1:3] == ("-m", "interop_lab.agent")
    for name in ("nova-compute", "neutron-agent"):
        assert netns[name].argv[0] == str(paths.python)
        assert netns[name].env["PYTHONPATH"] == str(python_path(paths))
    assert "nftables" in Drivers().packages and "openssh-server" in Drivers().packages
    monkeypatch.setenv("INTEROP_LAB_DATAPLANE", "fake")
    fake_drivers = Drivers.from_env()
    assert not fake_drivers.dataplane and fake_drivers.packages == ()
    fake = service_specs(paths, Ports(), fake_drivers)
    assert fake["nova-compute"].argv[0] == str(paths.bin("nova-compute"))
    assert fake["nova-compute"].argv[-1].endswith("nova-compute.conf")
    assert fake["neutron-agent"].argv[1].endswith("fake_agent.py")
    # only nova-compute and the agent differ between the modes
    assert [n for n in netns if netns[n] != fake[n]] == ["neutron-agent", "nova-compute"]
    monkeypatch.setenv("INTEROP_LAB_DATAPLANE", "kvm")
    with pytest.raises(LabError, match="netns or fake"):
        Drivers.from_env()


def test_each_service_lists_the_generated_files_it_reads(paths: LabPaths) -> None:
    configs = service_configs(paths)
    assert set(configs) == set(START_ORDER)
    generated = set(render_all(ConfigContext(paths, Ports(), Secrets())))
    for name, files in configs.items():
        assert all(f in generated or f.name.endswith("paste.ini") for f in files), name
    compute_only = paths.etc / "nova" / "nova-compute.conf"
    assert [n for n, files in configs.items() if compute_only in files] == ["nova-compute"]


def test_agent_is_pluggable_and_keeps_its_service_name(paths: LabPaths) -> None:
    def real_agent(paths: LabPaths, host: str) -> ServiceSpec:
        return ServiceSpec("neutron-agent", ("l3-agent", host))

    specs = service_specs(paths, Ports(), Drivers(agent=real_agent))
    assert specs["neutron-agent"].argv[0] == "l3-agent"
    assert list(specs) == list(START_ORDER)
    assert sorted(name for tier in STOP_TIERS for name in tier) == sorted(START_ORDER)


def test_passwords_are_random_per_lab(tmp_path: Path) -> None:
    first, second = Secrets.load(tmp_path / "a.json"), Secrets.load(tmp_path / "b.json")
    assert first.admin != second.admin and first.database != second.database
    assert first.tenant("lab1") != second.tenant("lab1")
    assert len({new_password() for _ in range(50)}) == 50
    assert len(new_password()) >= 32


def test_secrets_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    secrets = Secrets.load(path)
    secrets.tenant("lab1")
    secrets.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Secrets.load(path)
    assert again == secrets


def test_a_too_long_state_dir_is_a_clear_error() -> None:
    with pytest.raises(LabError, match="too long"):
        LabPaths.create(Path("/var/tmp") / ("x" * 90))


def test_state_dir_and_venv_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEROP_LAB_DIR", raising=False)
    monkeypatch.delenv("INTEROP_LAB_VENV", raising=False)
    assert default_state_dir() == Path("/var/tmp/interop-lab")
    monkeypatch.setenv("INTEROP_LAB_DIR", str(tmp_path))
    assert default_state_dir() == tmp_path
    assert open_lab(tmp_path)[0].venv == tmp_path / "venv"
    monkeypatch.setenv("INTEROP_LAB_VENV", "/opt/lab-venv")
    assert open_lab(tmp_path)[0].venv == Path("/opt/lab-venv")


def test_generated_files(tmp_path: Path) -> None:
    tenants = [Tenant(name, new_password()) for name in cloud_names(3)]
    clouds, admin, challenge = tmp_path / "clouds.yaml", tmp_path / "admin-clouds.yaml", tmp_path / "challenge.yaml"
    write_outputs(clouds, admin, challenge, ports=Ports(), tenants=tenants, admin_password="x" * 32)
    assert stat.S_IMODE(clouds.stat().st_mode) == stat.S_IMODE(admin.stat().st_mode) == 0o600
    entries = yaml.safe_load(clouds.read_text())["clouds"]
    assert list(entries) == ["lab1", "lab2", "lab3"]
    assert entries["lab2"]["auth"] == {
        "auth_url": "http://127.0.0.1:5000/v3", "username": "interop-lab2", "password": tenants[1].password,
        "project_name": "interop-lab2", "user_domain_name": "Default", "project_domain_name": "Default",
    }
    assert list(yaml.safe_load(admin.read_text())["clouds"]) == ["lab-admin"]
    assert challenge.read_text() == (
        "clouds:\n  lab1: {}\n  lab2: {}\n  lab3: {}\ndefaults:\n"
        "  image: interop-lab-image\n  flavor: interop.small\n  floating_ip: auto\n  nodes: 2\n  ssh_user: root\n"
        "timeouts:\n  servers: 300\n  peers: 300\n  ssh-ready: 120\n  configure: 300\n  deploy: 300\n  teardown: 300\n"
    )
    # the lab names no stack: the harness's challenge schema supplies its default
    assert load_challenge(challenge, known_clouds=cloud_names(3)).stack == "hosts-patroni"


def test_lab_env_prints_exports() -> None:
    assert lab_env(Path("/srv/my lab")).splitlines() == [
        "export OS_CLIENT_CONFIG_FILE='/srv/my lab/clouds.yaml'",
        "export INTEROP_CHALLENGE='/srv/my lab/challenge.yaml'",
        "export INTEROP_LAB_DIR='/srv/my lab'",
    ]


def test_host_os_reads_os_release_for_the_lab_image(tmp_path: Path) -> None:
    from interop_lab.bootstrap import host_os

    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    assert host_os(release) == {"os_distro": "debian", "os_version": "12"}
    release.write_text("ID=Arch\n")  # rolling: no version
    assert host_os(release) == {"os_distro": "arch"}
    assert host_os(tmp_path / "missing") == {}
