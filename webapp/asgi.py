"""The ASGI entry point uvicorn workers import: `webapp.asgi:app`."""

from webapp import create_app
from webapp.core import collector

app = create_app()


@app.before_serving
async def settle_collector() -> None:
    """Startup objects out of the garbage collector's sight, young collections rarer.

    Tune's modules, app and services are long-lived; without the freeze every
    full collection walks them again. Why the thresholds: webapp/core/collector.py.
    """
    collector.settle()
