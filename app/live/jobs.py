from datetime import timedelta

from flask import current_app

from app.core.scheduler import scheduled_job
from app.live.service import prune


@scheduled_job("prune_events", seconds=3600)
def prune_events_job():
    # Kept EVENT_RETENTION_H (at least 24 h) for Last-Event-ID replay.
    return prune(timedelta(hours=current_app.config["EVENT_RETENTION_H"]))
