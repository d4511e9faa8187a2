"""The blueprint every page is a view of (its templates and static files live beside it)."""
from flask import Blueprint

WEB = "web"
bp = Blueprint(WEB, __name__, template_folder="templates", static_folder="static/web",
               static_url_path="/static/web")
