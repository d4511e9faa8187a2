"""The app under test served over real HTTP (for clients that are not the Flask test client:
tus uploads, workers, the browser)."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def live_server(app):
    """The app on a free port of 127.0.0.1, served by threads (the browser opens several connections)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
