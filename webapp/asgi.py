"""The ASGI entry point uvicorn workers import: `webapp.asgi:app`."""

import gc

from webapp import create_app

app = create_app()


@app.before_serving
async def freeze_startup_objects() -> None:
    """Move everything built at startup out of the garbage collector's sight.

    Tune's modules, app and services are long-lived; without this every full
    collection walks them again, which measured several percent of a busy
    worker's CPU.
    """
    gc.freeze()
