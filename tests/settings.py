"""Test settings: the one settings module, with the environment a test run needs.

Only environment defaults are set here (an explicit variable, such as DATABASE_URL on the PostgreSQL
run, wins), plus synchronous tasks and a fast password hasher.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-loupe-suite-only-0123456789abcdefghij")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("LOUPE_HTTPS", "0")
os.environ.setdefault("LOUPE_BASE_URL", "http://127.0.0.1:8000")
os.environ.setdefault("LOUPE_STATIC_MANIFEST", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("EMAIL_URL", "locmem://")
os.environ.setdefault("LOUPE_TASKS_SYNC", "1")
# Most tests sign staff in with force_login; the tests of the staff requirement switch it on.
os.environ.setdefault("LOUPE_REQUIRE_2FA_FOR_STAFF", "0")
# The suite receives real webhook deliveries on 127.0.0.1 (the development allowance); the SSRF tests
# take the allowance away.
os.environ.setdefault("LOUPE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
# Each process of a parallel run (pytest-xdist's workers gw0, gw1…) has its own folder: files, databases.
os.environ.setdefault("LOUPE_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test",
                                                    os.environ.get("PYTEST_XDIST_WORKER", "")))

from agency.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405  (WhiteNoise warns when it is missing)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory database: the browser tests' live server answers requests
    # in threads, and each thread needs its own connection, as in production (WAL + IMMEDIATE).
    # One file per test process, so two runs on one machine never share (and break) a database.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(os.environ["LOUPE_VAR_DIR"], f"test-db-{os.getpid()}.sqlite3")}
