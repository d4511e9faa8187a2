"""A full staging disk and a full object store, made real with small tmpfs mounts: the
upload is refused with 507/503 and a message, nothing is acknowledged that is not stored,
and it resumes once space is back."""
import hashlib
import os

import pytest
import requests

from tests.services.disks import resize, small_disk  # noqa: F401  (fixture)
from tests.test_tus import TUS, auth, create, live, patch, station  # noqa: F401  (fixtures)


@pytest.fixture
def settings(request, make_settings, redis_url, small_disk, tmp_path):
    where = request.node.get_closest_marker("full")
    values = {"database.url": f"sqlite:///{tmp_path / 'db.sqlite'}", "redis.url": redis_url}
    if where and where.args[0] == "staging":
        values["uploads.staging_dir"] = str(small_disk("staging"))
    else:
        values["object_store.local.root"] = str(small_disk("objects"))
    return make_settings(**values)


@pytest.mark.full("staging")
def test_full_staging_disk_answers_507_and_resumes(live, station, rt):
    data = os.urandom(3 * 1024 * 1024)
    url = create(live, station, data).headers["Location"]
    full = patch(url, station, data, 0)
    assert full.status_code == 507 and full.json()["message"]
    assert requests.head(url, headers={**TUS, **auth(station)}).headers["Upload-Offset"] == "0"
    resize(rt.settings.staging_dir, "16m")
    done = patch(url, station, data, 0)
    assert done.status_code == 204 and done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.full("store")
def test_full_object_store_answers_503_then_completes(live, station, rt):
    data = os.urandom(2 * 1024 * 1024)
    url = create(live, station, data).headers["Location"]
    refused = patch(url, station, data, 0)
    assert refused.status_code == 503 and refused.json()["message"]
    head = requests.head(url, headers={**TUS, **auth(station)})
    assert "X-Clip-Id" not in head.headers
    resize(rt.settings.local_store_root, "16m")
    head = requests.head(url, headers={**TUS, **auth(station)})
    assert head.status_code == 200 and head.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
