"""`python -m config.keys`: write fresh development keys to instance/keys.env (mode 0600) unless it exists.

`make run` calls it before anything else, so a development install encrypts with keys of its own.
Production sets SECRET_KEY and DATA_ENCRYPTION_KEY in its environment instead.
"""
from config import generate_keys_file, keys_file

if __name__ == "__main__":
    existed = keys_file().exists()
    path = generate_keys_file()
    print(f"{'Using' if existed else 'Wrote new'} development keys in {path} (keep this file private)")
