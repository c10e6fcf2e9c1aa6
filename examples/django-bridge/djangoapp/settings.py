"""Settings of the Django half of the bridge demo: a DEBUG project on 127.0.0.1 that shares its
`django_session` table and its `sessionid` cookie with the Hono app (hono.ts).

What must match on the satchel side (see README.md):
- SECRET_KEY: the same string is satchel's `secret` and `sqlStore({ secret })`. Django signs
  `session_data` with it (salt "django.contrib.sessions.SessionStore"), and the auth app's
  `_auth_user_hash` is derived from it too.
- SESSION_ENGINE "db" (the `django_session` table, satchel's `layout: "django"`) and the JSON
  serializer (Django's default; pickle would be unreadable by satchel).
- SESSION_COOKIE_NAME "sessionid", path "/", no domain (host-only), SameSite=Lax.
- SESSION_COOKIE_SECURE False: the demo runs on plain http://127.0.0.1, and so does satchel
  (`cookie: { secure: false }`). In production both sides keep Secure on.
"""
import os
import sys

try:
    SECRET_KEY = os.environ["BRIDGE_SECRET_KEY"]
    DB_PATH = os.environ["BRIDGE_DB"]
except KeyError as missing:
    sys.exit(f"{missing} is not set: start the demo with `node examples/django-bridge/start.ts`")

DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "djangoapp.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "djangoapp.apps.BridgeConfig",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB_PATH}}

# The session settings satchel mirrors. The first three are Django's defaults, written out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"
SESSION_COOKIE_NAME = "sessionid"
SESSION_COOKIE_AGE = 1209600
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True

# A password hasher that is fast enough for a demo started on every test run. Never in production.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
