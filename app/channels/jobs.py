from app.channels.outbound import retry_due_messages
from app.channels.service import close_timed_out_post_surveys
from app.channels.spool import replay_spool
from app.contacts.service import abandon_stale_contacts
from app.core.scheduler import scheduled_job


@scheduled_job("retry_outbound_messages", seconds=15)
def retry_outbound_messages_job():
    return retry_due_messages()


@scheduled_job("abandon_stale_contacts", seconds=60)
def abandon_stale_contacts_job():
    return abandon_stale_contacts()


@scheduled_job("replay_webhook_spool", seconds=10)
def replay_webhook_spool_job():
    return replay_spool()


@scheduled_job("close_timed_out_post_surveys", seconds=60)
def close_timed_out_post_surveys_job():
    return close_timed_out_post_surveys()
