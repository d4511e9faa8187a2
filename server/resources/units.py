"""Units (the tree city → district → squad) and their officers; administrators keep them."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from server.auth import roles
from server.operations import Refused
from server.operations.units import (OfficerBody, UnitBody, officer_view, put_officer, put_unit, require_unit,
                                     subtree, unit_view)
from server.operations.versions import Instant, code_field
from server.resources.cases import READERS, perform, reply
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.case_models import Officer, Unit

blp = Blueprint("units", __name__, url_prefix=None, description="Units and officers")


class UnitView(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    parent = ma.fields.String(allow_none=True)
    created_at = Instant()


class OfficerView(ma.Schema):
    code = ma.fields.String(metadata={"description": "Badge number (执法证号)"})
    name = ma.fields.String()
    unit = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = Instant()


class OfficerQuery(ma.Schema):
    unit = code_field(metadata={"description": "Officers of this unit and the units below it"})


@blp.route("/units")
class Units(MethodView):
    @roles(*READERS)
    @blp.response(200, UnitView(many=True))
    def get(self):
        """Every unit, by code, with its parent."""
        with runtime().session() as session:
            return [unit_view(unit) for unit in session.scalars(select(Unit).order_by(Unit.code))]


@blp.route("/units/<code>")
class UnitResource(MethodView):
    @roles(*READERS)
    @blp.response(200, UnitView)
    def get(self, code):
        with runtime().session() as session:
            unit = session.get(Unit, code)
            if unit is None:
                raise Refused(404, "casework.unit_not_found", unit=code)
            return unit_view(unit)

    @roles("admin")
    @blp.arguments(UnitBody)
    @blp.response(200, UnitView)
    @blp.alt_response(201, schema=UnitView, description="The unit was new")
    def put(self, body, code):
        """Register a unit or set its name and parent (an unknown parent or a cycle is refused)."""
        return reply(perform(lambda session, ctx: put_unit(session, ctx, code, body)), versioned=False)


@blp.route("/officers")
class Officers(MethodView):
    @roles(*READERS)
    @blp.arguments(OfficerQuery, location="query")
    @blp.response(200, OfficerView(many=True))
    def get(self, query):
        """Officers by badge number, optionally of one unit and the units below it."""
        with runtime().session() as session:
            statement = select(Officer).order_by(Officer.code)
            if "unit" in query:
                require_unit(session, query["unit"])
                statement = statement.where(Officer.unit_code.in_(subtree(session, query["unit"])))
            return [officer_view(officer) for officer in session.scalars(statement)]


@blp.route("/officers/<code>")
class OfficerResource(MethodView):
    @roles(*READERS)
    @blp.response(200, OfficerView)
    def get(self, code):
        with runtime().session() as session:
            officer = session.get(Officer, code)
            if officer is None:
                raise Refused(404, "casework.officer_not_found", officer=code)
            return officer_view(officer)

    @roles("admin")
    @blp.arguments(OfficerBody)
    @blp.response(200, OfficerView)
    @blp.alt_response(201, schema=OfficerView, description="The officer was new")
    def put(self, body, code):
        """Register an officer by badge number, or set their name, unit and whether active."""
        return reply(perform(lambda session, ctx: put_officer(session, ctx, code, body)), versioned=False)
