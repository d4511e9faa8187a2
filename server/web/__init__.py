"""The pages for legal staff and inspectors: server-rendered (Jinja), signed in with a
password, Simplified Chinese by default with an English switch.

Every page is a view on the `web` blueprint that declares its roles with server.auth.roles,
like the API's views; the principal comes from the signed session cookie instead of a token.
"""
from __future__ import annotations

from server.web.blueprint import bp

PAGE_MODULES = ("login", "cases", "evidence", "clips", "legal", "unlinked", "users", "audits", "stations")


def init_app(app) -> None:
    from importlib import import_module

    from server.web import security
    for name in PAGE_MODULES:  # each registers its views on bp (once per process)
        import_module(f"server.web.{name}")
    security.init_app(app)
    # Flask escapes only templates named *.html, *.htm, *.xml, *.xhtml, *.svg; the pages are *.html.j2
    app.jinja_env.autoescape = lambda name: name is None or name.endswith((".html", ".htm", ".xml", ".j2"))
    app.register_blueprint(bp)
