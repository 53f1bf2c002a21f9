from app.core.db import dialect_name
from app.core.scheduler import scheduled_job
from app.stats.rollups import refresh_all_operation_percentiles
from app.stats.exports import deliver_due_exports, run_due_schedules


@scheduled_job("run_export_schedules", seconds=60)
def run_export_schedules_job():
    return run_due_schedules()


@scheduled_job("deliver_exports", seconds=30)
def deliver_exports_job():
    return deliver_due_exports()


@scheduled_job("refresh_operation_percentiles", seconds=60)
def refresh_operation_percentiles_job():
    """Keeps few operations cells to compute at request time (PostgreSQL; SQLite has no rollups)."""
    if dialect_name() != "postgresql":
        return 0
    return refresh_all_operation_percentiles()
