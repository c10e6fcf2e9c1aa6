"""Django's own session code, driven over stdin/stdout for tests/django_live.test.ts.

Run with Debian's interpreter (apt-get install python3-django python3-psycopg2):
    /usr/bin/python3 tests/_django/helper.py '<config JSON>'
config: {"secret": str, "engine": "sqlite" | "postgres" | null, "name": db file or name,
         "table": the django_session table name, "create_table": bool,
         "auth": bool (django.contrib.auth installed and `migrate` run: auth_user + django_session)}
Then one JSON request per line in, one JSON answer per line out: {"ok": ...} or {"error": "..."}.
Every request may carry "now" (epoch seconds, a float): django.core.signing's clock is frozen
at it for that request. Database expiry always uses the real clock, as Django does.
"""
import json
import sys
import time as real_time
import types

import django
from django.conf import settings

config = json.loads(sys.argv[1])
databases = {}
if config.get("engine") == "sqlite":
    databases["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": config["name"]}
elif config.get("engine") == "postgres":
    databases["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": config["name"],
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
    }

auth = bool(config.get("auth")) and bool(databases)
apps = ["django.contrib.contenttypes", "django.contrib.sessions"] if databases else []
settings.configure(
    SECRET_KEY=config["secret"],
    USE_TZ=True,
    TIME_ZONE="UTC",
    DATABASES=databases,
    INSTALLED_APPS=(["django.contrib.auth"] if auth else []) + apps,
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    # Fast hashing for tests only; the password field is opaque to the session hash anyway.
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)
django.setup()

from django.core import signing  # noqa: E402
from django.contrib.sessions.backends import signed_cookies  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

frozen = {"now": None}
signing.time = types.SimpleNamespace(time=lambda: real_time.time() if frozen["now"] is None else frozen["now"])

if databases:
    from django.contrib.sessions.backends import db  # noqa: E402
    from django.contrib.sessions.models import Session  # noqa: E402
    from django.db import connection  # noqa: E402

    if config.get("table"):
        Session._meta.db_table = config["table"]
    if auth:
        from django.core.management import call_command  # noqa: E402

        call_command("migrate", verbosity=0, interactive=False)
    elif config.get("create_table"):
        with connection.schema_editor() as editor:
            editor.create_model(Session)


def cookie_write(req):
    store = signed_cookies.SessionStore()
    store.update(req["data"])
    store.save()
    return store.session_key


def cookie_read(req):
    with override_settings(SESSION_COOKIE_AGE=req.get("age", 1209600)):
        store = signed_cookies.SessionStore(req["value"])
        data = dict(store.items())
        # load() answers any failure by create(), which only marks the store modified.
        return {"data": data, "valid": not store.modified}


def db_write(req):
    store = db.SessionStore(req.get("key"))
    store.update(req["data"])
    if "expiry" in req:
        store.set_expiry(req["expiry"])
    store.save()
    return store.session_key


def db_read(req):
    store = db.SessionStore(req["key"])
    data = dict(store.items())
    row = Session.objects.filter(pk=req["key"]).first()
    return {
        "data": data,
        "key": store.session_key,
        "expire_date": row.expire_date.timestamp() if row else None,
        "raw": row.session_data if row else None,
    }


def db_decode(req):
    return db.SessionStore().decode(req["value"])


def db_encode(req):
    return db.SessionStore().encode(req["data"])


def signing_loads(req):
    try:
        return {"data": signing.loads(req["value"], key=req.get("key"), salt=req["salt"], max_age=req.get("max_age")), "valid": True}
    except Exception as error:  # BadSignature, SignatureExpired, ValueError, zlib.error, ...
        return {"valid": False, "error": type(error).__name__}


# ---- django.contrib.auth (config "auth"): login() and get_user() on a session of either engine ----


def user_create(req):
    from django.contrib.auth.models import User

    user = User.objects.create_user(req["username"], password=req["password"])
    return {"pk": user.pk, "password": user.password, "auth_hash": user.get_session_auth_hash()}


def user_set_password(req):
    """What a password change does (without update_session_auth_hash): every session's hash goes stale."""
    from django.contrib.auth.models import User

    user = User.objects.get(username=req["username"])
    user.set_password(req["password"])
    user.save()
    return {"password": user.password, "auth_hash": user.get_session_auth_hash()}


def session_for(req):
    """The session a request carrying `req["value"]` (a db key or a signed cookie) would get."""
    if req["engine"] == "cookie":
        return signed_cookies.SessionStore(req.get("value"))
    return db.SessionStore(req.get("value"))


def auth_request(req):
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = session_for(req)
    request.user = AnonymousUser()
    return request


def auth_login(req):
    """Django's own login() on the session `value` (or a new one); answers the session's value after save."""
    from django.contrib.auth import login
    from django.contrib.auth.models import User

    request = auth_request(req)
    login(request, User.objects.get(username=req["username"]), backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    return {"value": request.session.session_key, "data": dict(request.session.items())}


def auth_get_user(req):
    """django.contrib.auth.get_user(): the username, or null (AnonymousUser; Django flushed the session)."""
    from django.contrib.auth import get_user

    request = auth_request(req)
    user = get_user(request)
    return {"username": user.username if user.is_authenticated else None, "data": dict(request.session.items())}


OPS = {
    f.__name__: f
    for f in (
        cookie_write, cookie_read, db_write, db_read, db_decode, db_encode, signing_loads,
        user_create, user_set_password, auth_login, auth_get_user,
    )
}

print(json.dumps({"ok": {"django": django.get_version(), "python": sys.version.split()[0]}}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    frozen["now"] = req.get("now")
    try:
        answer = {"ok": OPS[req["op"]](req)}
    except Exception as error:
        answer = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(answer), flush=True)
