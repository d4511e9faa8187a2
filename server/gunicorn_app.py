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
        # %(U)s is the path without its query string: nothing a client puts there reaches the log.
        self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"')
        self.cfg.set("proc_name", "fullrecord-api")
        # gunicorn 27's control socket is one path per host: several API nodes on a host would clash.
        self.cfg.set("control_socket_disable", True)

    def load(self):
        from server import create_app
        return create_app(self.settings)
