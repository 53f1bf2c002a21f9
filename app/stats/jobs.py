from app.core.scheduler import scheduled_job
from app.stats.exports import deliver_due_exports, run_due_schedules


@scheduled_job("run_export_schedules", seconds=60)
def run_export_schedules_job():
    return run_due_schedules()


@scheduled_job("deliver_exports", seconds=30)
def deliver_exports_job():
    return deliver_due_exports()
