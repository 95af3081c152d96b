"""The blueprint every API module uses: flask-smorest's, with query strings held to the same rule as bodies.

webargs drops unknown query parameters by default, so a typo (``?chanel=chat``) would silently answer for every
channel. Here the query schemas' own ``unknown`` decides, and they are StrictSchemas: an unknown parameter is a
422 in the error envelope, like an unknown body field.
"""
from __future__ import annotations

from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser


class StrictQueryParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictQueryParser()
