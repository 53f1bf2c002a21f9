from app.contacts.service import erase_expired_personal_data
from app.core.scheduler import scheduled_job


@scheduled_job("erase_expired_personal_data", seconds=3600)
def retention_job():
    return erase_expired_personal_data()
