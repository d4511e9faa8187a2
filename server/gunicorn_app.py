"""`fullrecord serve`: the API under gunicorn, configured from the shared settings."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from server.settings import Settings


class FullrecordServer(BaseApplication):
    def __init__(self, settings: Settings, host: str, port: int):
        self.settings = settings
        self.bind = f"{host}:{port}"
        super().__init__()

    def load_config(self) -> None:
        server = self.settings.server
        self.cfg.set("bind", [self.bind])
        self.cfg.set("workers", server.processes)
        self.cfg.set("threads", server.threads)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("timeout", server.request_timeout)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("accesslog", "-")
        self.cfg.set("proc_name", "fullrecord-api")

    def load(self):
        from server import create_app
        return create_app(self.settings)
