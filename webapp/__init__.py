"""Tune: campaign and prospect tracking for B2B sales teams running outbound email."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in create_app: a process that only reads a CSV needs neither
    from quart import Quart

    from webapp.core.config import Config

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    """`templates/` and `static/` sit at the top of the repository and inside the wheel."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def create_app(config: Config | None = None) -> Quart:
    """Build the Quart app; startup opens the database and starts the event writer."""
    from quart import Quart

    from webapp.accounts.apikeys import KeyCache
    from webapp.accounts.keywatch import RevocationListener
    from webapp.core.config import Config
    from webapp.core.db import Database, redacted_url
    from webapp.core.errors import register_error_handlers
    from webapp.core.logs import configure_logging, get_logger
    from webapp.outbound.tokens import TokenSigner
    from webapp.prospects import worker as import_worker
    from webapp.prospects.jobs import mark_interrupted
    from webapp.tracking.hits import HitClassifier, LinkCache, ip_salt
    from webapp.tracking.hits import configure as configure_tracking
    from webapp.tracking.links import LinkReads
    from webapp.tracking.writer import EventWriter
    from webapp.web import api, apilayer, hooks, ops, track, tracklayer, ui, webhooks
    from webapp.web.ratelimit import RateLimiter
    from webapp.web.services import Services

    config = config or Config.from_env()
    configure_logging(json=config.json_logs, level=config.log_level)
    configure_tracking(config)
    log = get_logger("webapp")
    app = Quart(
        __name__,
        template_folder=str(_asset_dir("templates")),
        static_folder=str(_asset_dir("static")),
        instance_path=str(config.instance_path.resolve()),
    )
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        JSON_SORT_KEYS=False,
        TUNE=config,
    )
    # No redirects invented by the router: `/t/c//evil.com` is a plain 404.
    app.url_map.merge_slashes = False

    request_log = hooks.install(app, config)
    register_error_handlers(app)
    app.register_blueprint(ops.blueprint)
    api.install(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # after quart-schema's provider
    app.register_blueprint(track.blueprint)
    app.register_blueprint(webhooks.blueprint)

    @app.before_serving
    async def open_services() -> None:
        db = Database(config)
        listener = None
        if not db.is_sqlite:
            listener = RevocationListener(config.database_url)
            listener.start()
        writer = EventWriter(
            db,
            max_batch=config.event_batch_max,
            in_flight=config.event_batches_in_flight,
            classify=HitClassifier(),
        )
        writer.start()
        link_cache = LinkCache()
        app.extensions["tune"] = Services(
            config=config,
            db=db,
            writer=writer,
            limiter=RateLimiter(config.rate_limit, config.ratelimit_storage_uri),
            signer=TokenSigner(config.secret_key),
            ip_salt=ip_salt(config.secret_key),
            link_cache=link_cache,
            key_cache=KeyCache(db.sqlite_path, listener=listener),
            link_reads=LinkReads(link_cache, db.fetch_all, sqlite=db.is_sqlite),
        )
        log.info("database_initialized", url=redacted_url(config.database_url))
        await mark_interrupted(db)
        if config.run_sender:
            # With no SMTP_URL and no mailbox yet it waits for the first mailbox added.
            from webapp.outbound.contents import TrackingUrls
            from webapp.outbound.sending.sender import Sender

            tune = app.extensions["tune"]
            tune.sender = Sender(db, config, TrackingUrls(config.base_url, tune.signer))
            tune.sender.start()
        if config.run_inbox:
            # With no IMAP_URL and no mailbox yet it reads nothing and looks again
            # every minute (at once when a mailbox is added through this process).
            from webapp.inbox.pollers import InboxPollers

            tune = app.extensions["tune"]
            tune.poller = InboxPollers(db, config)
            tune.poller.start()
        if config.run_webhooks:
            from webapp.webhooks.dispatcher import Dispatcher, policy_for

            tune = app.extensions["tune"]
            tune.dispatcher = Dispatcher(db, config.secret_key, policy_for(config))
            tune.dispatcher.start()

    @app.after_serving
    async def close_services() -> None:
        tune = app.extensions.pop("tune", None)
        if tune is None:
            return
        if tune.sender is not None:
            await tune.sender.stop()
        if tune.poller is not None:
            await tune.poller.stop()
        if tune.dispatcher is not None:
            await tune.dispatcher.stop()
        await tune.writer.stop()
        if tune.key_cache.listener is not None:
            await tune.key_cache.listener.stop()
        import_worker.shutdown()
        await tune.db.dispose()
        log.info("shutdown_complete")

    ui.install(app, config)
    ops.install(app, config)
    apilayer.install(app, request_log)
    tracklayer.install(app, request_log, config)
    return app
