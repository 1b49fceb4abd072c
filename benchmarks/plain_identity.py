"""The baseline: a plain openstacksdk script doing the identity phase's calls, one thread per cloud.

usage: plain_identity.py CLOUD [CLOUD ...]   (clouds from OS_CLIENT_CONFIG_FILE)
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import openstack


def identity(cloud: str) -> str:
    conn = openstack.connect(cloud=cloud)
    try:
        conn.authorize()
        access = conn.session.auth.get_access(conn.session)
        catalog = access.service_catalog.catalog
        return next((s["id"] for s in catalog if s["type"] == "identity"), "")
    finally:
        conn.close()


if __name__ == "__main__":
    clouds = sys.argv[1:]
    with ThreadPoolExecutor(max_workers=len(clouds)) as pool:
        cpids = list(pool.map(identity, clouds))
    assert all(cpids), cpids
    print(" ".join(cpids))
