"""The app factory: session key handling and JSON that keeps Chinese readable."""
import threading

from server import create_app, secret_key


def test_secret_key_is_made_once_even_when_processes_race(make_settings):
    settings = make_settings()
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(secret_key(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert [p.name for p in settings.data_dir.iterdir()] == ["secret_key"]
    assert (settings.data_dir / "secret_key").stat().st_mode & 0o077 == 0


def test_configured_secret_key_wins(make_settings):
    app = create_app(make_settings(**{"server.secret_key": "from-the-environment"}))
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (app.extensions["fullrecord"].settings.data_dir / "secret_key").exists()


def test_json_answers_keep_chinese_readable(client):
    body = client.get("/api/v1/stations").get_data(as_text=True)
    assert "需要登录" in body and "\\u" not in body
