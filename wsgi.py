"""WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi <command>`."""
import gc

from app import create_app

app = create_app()

# Everything built so far (modules, models, schemas, the app) lives as long as the process: move it out
# of the collector's sight, so that collections walk only what requests allocate (gc.freeze, as the
# gc docs suggest for long-lived startup objects). About 2.5% of a webhook's instructions.
gc.collect()
gc.freeze()
