import sqlalchemy as sa

from app.core.scheduler import scheduled_job
from app.core.time import utcnow
from app.extensions import db
from app.profiles.models import ProfileFlag


@scheduled_job("purge_expired_flags", seconds=600)
def purge_expired_flags_job():
    """Expired flags already stopped applying (active_flags checks `until`); this tidies them away."""
    result = db.session.execute(sa.delete(ProfileFlag).where(ProfileFlag.until.is_not(None), ProfileFlag.until <= utcnow()))
    db.session.commit()
    return result.rowcount or 0
