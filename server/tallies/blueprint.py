"""The tallies' blueprint, apart from the package's __init__ so that the route modules that
register on it do not import the package that imports them (no import circle)."""

from flask import Blueprint

bp = Blueprint("tallies", __name__)
