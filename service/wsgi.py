"""WSGI entry point for servers: ``gunicorn --preload -w 2 service.wsgi:app``."""
from __future__ import annotations

from service.app import create_app

app = create_app()
