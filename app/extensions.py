"""Extensions, created once here and bound to the app in create_app()."""
from functools import partial

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def is_twilio_webhook() -> bool:
    """Twilio's webhooks are signed and never rate limited."""
    return request.blueprint == "webhooks"


class HelplineLimiter(Limiter):
    """Flask-Limiter, minus its per-request check on Twilio's webhooks: they are signed, never limited
    (a request filter says so, app/__init__.py), and the busiest route, where the check cost 6% of a
    webhook's CPU even when the filter exempts it. Routes' own limits are checked as before.
    Nor its after-request hook there, which adds the headers of a limit checked (none was) and
    deducts conditional costs (webhooks have none): 1.6% of a webhook's CPU (py-spy, in-process)."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and is_twilio_webhook():
            return None
        return super()._check_request_limit(callable_name, in_middleware)

    def init_app(self, app, *args, **kwargs) -> None:
        super().init_app(app, *args, **kwargs)
        hooks = app.after_request_funcs.get(None, [])
        for index, hook in enumerate(hooks):
            # Flask-Limiter registers partial(Limiter.__inject_headers, self), name-mangled.
            if isinstance(hook, partial) and hook.args == (self,) and hook.func is Limiter._Limiter__inject_headers:
                hooks[index] = partial(_headers_unless_webhook, hook)


def _headers_unless_webhook(inject_headers, response):
    return response if is_twilio_webhook() else inject_headers(response)


limiter = HelplineLimiter(key_func=get_remote_address, default_limits=[])
