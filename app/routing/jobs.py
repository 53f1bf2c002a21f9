from app.core.scheduler import scheduled_job
from app.routing.service import dispatch_all, expire_offers


@scheduled_job("expire_offers", seconds=2)
def expire_offers_job():
    return expire_offers()


@scheduled_job("dispatch_waiting_contacts", seconds=5)
def dispatch_waiting_contacts_job():
    # In-request dispatch offers contacts at once; this catches anything it missed.
    return dispatch_all()
