"""GET /healthz reports each part and answers 503 when one is down."""
import shutil

from server import create_app
from tests.services.ports import free_port


def checks(answer):
    return answer.get_json()["checks"]


def test_all_parts_up(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ok"
    assert {name: c["status"] for name, c in checks(answer).items()} == \
        {"database": "ok", "redis": "ok", "object_store": "ok"}


def test_redis_down(make_settings, tmp_path):
    port = free_port()
    app = create_app(make_settings(**{"redis.url": f"redis://:hunter2@127.0.0.1:{port}/0"}))
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "unavailable"
    assert "hunter2" not in answer.get_data(as_text=True)
    redis = checks(answer)["redis"]
    assert redis["status"] == "unavailable" and str(port) in redis["address"] and redis["error"]
    assert checks(answer)["database"]["status"] == "ok"


def test_database_down(make_settings, redis_url):
    port = free_port()
    url = f"postgresql+psycopg://fullrecord:hunter2@127.0.0.1:{port}/fullrecord"
    app = create_app(make_settings(**{"database.url": url, "redis.url": redis_url}))
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    database = checks(answer)["database"]
    assert database["status"] == "unavailable" and str(port) in database["address"]
    assert "hunter2" not in answer.get_data(as_text=True)
    assert checks(answer)["redis"]["status"] == "ok"


def test_object_store_down(app, rt):
    root = rt.settings.local_store_root
    rt.store.check()  # opened and working
    shutil.rmtree(root / "tmp")
    (root / "tmp").write_text("not a directory")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    store = checks(answer)["object_store"]
    assert store["status"] == "unavailable" and str(root) in store["address"]


def test_s3_store_up_and_down(make_settings, seaweedfs, redis_url):
    s3 = {f"object_store.s3.{name}": value for name, value in seaweedfs.settings("health-check").items()}
    up = create_app(make_settings(**{"object_store.backend": "s3", "redis.url": redis_url, **s3}))
    answer = up.test_client().get("/healthz")
    assert answer.status_code == 200, answer.get_json()
    assert checks(answer)["object_store"]["address"].endswith(f"{seaweedfs.endpoint}/health-check")

    port = free_port()
    down = create_app(make_settings(**{"object_store.backend": "s3", "redis.url": redis_url, **s3,
                                       "object_store.s3.endpoint": f"127.0.0.1:{port}"}))
    answer = down.test_client().get("/healthz")
    assert answer.status_code == 503
    store = checks(answer)["object_store"]
    assert store["status"] == "unavailable" and f"127.0.0.1:{port}" in store["address"]
    assert seaweedfs.secret_key not in answer.get_data(as_text=True)
