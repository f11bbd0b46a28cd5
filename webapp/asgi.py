"""The ASGI entry point uvicorn workers import: `webapp.asgi:app`."""

from webapp import create_app

app = create_app()
