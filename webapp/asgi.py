"""The ASGI entry point uvicorn workers import: `webapp.asgi:app`."""

from . import create_app

app = create_app()
