"""The baseline for serving benchmarks: the smallest Flask app, served exactly like kefu (gunicorn, 2 sync workers)."""
from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.post("/hello")
def hello():
    return jsonify(hello="world")
