import hashlib
import socket
from pathlib import Path

import pytest
import requests_mock as rm

from harness.clouds import CloudsConfig, check_identity, refstack_cpid
from harness.errors import AuthError, ConfigError, UnreachableError

AUTH = "http://keystone.test:5000/v3"


def clouds_yaml(tmp_path: Path, auth_url: str = AUTH, names: tuple[str, ...] = ("a", "b")) -> Path:
    lines = ["clouds:"]
    for name in names:
        lines += [f"  {name}:", "    auth:", f"      auth_url: {auth_url}", f"      username: u-{name}",
                  "      password: s3cret-pw", f"      project_name: p-{name}", "      user_domain_name: Default",
                  "      project_domain_name: Default", "    region_name: RegionOne", "    identity_api_version: 3"]
    path = tmp_path / "clouds.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_body(catalog: list[dict]) -> dict:
    return {"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                      "project": {"id": "proj-1", "name": "p-a", "domain": {"id": "default", "name": "Default"}},
                      "user": {"id": "user-1", "name": "u-a", "domain": {"id": "default", "name": "Default"}},
                      "roles": [{"id": "r", "name": "member"}], "catalog": catalog}}


def catalog_entry(kind: str, url: str, sid: str) -> dict:
    return {"type": kind, "id": sid, "name": kind,
            "endpoints": [{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": url, "id": "e" + sid}]}


def test_names_and_explicit_path_beats_environment(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(other, names=("envcloud",))))
    cfg = CloudsConfig.load(clouds_yaml(tmp_path))
    assert cfg.names() == ["a", "b"]
    assert cfg.path == tmp_path / "clouds.yaml"
    assert CloudsConfig.load().names() == ["envcloud"]


def test_missing_clouds_yaml_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE", raising=False)
    with pytest.raises(ConfigError, match=r"^clouds.yaml not found: .*nope.yaml$"):
        CloudsConfig.load(tmp_path / "nope.yaml")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"gone.yaml \(from OS_CLIENT_CONFIG_FILE\)"):
        CloudsConfig.load()


def test_unknown_cloud_lists_known(tmp_path):
    cfg = CloudsConfig.load(clouds_yaml(tmp_path))
    with pytest.raises(ConfigError, match=r"cloud 'zz' is not in .*clouds.yaml \(known: a, b\)"):
        cfg.connect("zz")


def test_identity_reads_catalog_and_cpid(tmp_path):
    cfg = CloudsConfig.load(clouds_yaml(tmp_path))
    catalog = [catalog_entry("identity", AUTH, "ks-service-id"), catalog_entry("compute", "http://nova.test/v2.1", "n1")]
    with rm.Mocker() as m:
        m.get(AUTH, json={"version": {"id": "v3.14", "status": "stable",
                                      "links": [{"rel": "self", "href": AUTH + "/"}]}})
        m.post(AUTH + "/auth/tokens", status_code=201, json=token_body(catalog), headers={"X-Subject-Token": "tok"})
        result = check_identity(cfg.connect("a"), "a")
    assert result.cpid == "ks-service-id"
    assert result.services == ["compute", "identity"]
    assert result.project_id == "proj-1"
    assert result.auth_url == AUTH
    assert "s3cret-pw" not in repr(result.as_details())


def test_wrong_password_is_an_auth_error_naming_the_cloud(tmp_path):
    cfg = CloudsConfig.load(clouds_yaml(tmp_path))
    with rm.Mocker() as m:
        m.get(AUTH, json={"version": {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": AUTH + "/"}]}})
        m.post(AUTH + "/auth/tokens", status_code=401,
               json={"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
        with pytest.raises(AuthError) as err:
            check_identity(cfg.connect("b"), "b")
    assert str(err.value).startswith("cloud b, phase identity: authentication refused")
    assert "s3cret-pw" not in str(err.value)


def test_closed_port_is_unreachable(tmp_path):
    cfg = CloudsConfig.load(clouds_yaml(tmp_path, auth_url=f"http://127.0.0.1:{free_port()}/v3"))
    with pytest.raises(UnreachableError) as err:
        check_identity(cfg.connect("a", api_timeout=5), "a")
    assert err.value.cloud == "a" and "unreachable" in str(err.value)


def test_cpid_falls_back_to_md5_of_auth_host():
    expected = hashlib.md5(b"keystone.test").hexdigest()
    assert refstack_cpid([{"type": "compute", "id": "x"}], AUTH) == expected
