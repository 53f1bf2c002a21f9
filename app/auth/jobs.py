from app.auth.service import purge_expired_tokens
from app.core.scheduler import scheduled_job


@scheduled_job("purge_expired_tokens", seconds=3600)
def purge_expired_tokens_job():
    return purge_expired_tokens()
