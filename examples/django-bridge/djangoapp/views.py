"""The Django half of the bridge: log in with django.contrib.auth, see who is logged in, a cart
in `request.session["cart"]`, and a password change that logs the user out on both sides. The Hono app (hono.ts) reads and writes the same session.

CSRF: the forms here (and /password) are exempt, for a local demo only (no token plumbing in the HTML). A real
project keeps CsrfViewMiddleware on for them.
"""
from html import escape

from django.contrib.auth import authenticate, login
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt

from .apps import DEMO_PASSWORD, DEMO_USER


def page(title, body):
    return HttpResponse(
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def home(request):
    return page(
        "Django side",
        '<p><a href="/login">log in</a> · <a href="/whoami">who am I</a> · <a href="/cart">cart</a></p>',
    )


@csrf_exempt  # local demo only: see the module docstring
def login_view(request):
    """GET: the form (pre-filled with the demo user). POST: Django's own login(), which cycles the key."""
    error = ""
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username", ""), password=request.POST.get("password", ""))
        if user is not None:
            login(request, user)
            return redirect_303("/whoami")
        error = '<p id="error">wrong username or password</p>'
    return page(
        "Django login",
        error + '<form method="post" action="/login">'
        f'<input name="username" value="{DEMO_USER}"> <input name="password" type="password" value="{DEMO_PASSWORD}"> '
        '<button id="login">log in</button></form>',
    )


def redirect_303(to):
    response = HttpResponseRedirect(to)
    response.status_code = 303
    return response


def whoami(request):
    """The logged-in username, or "anonymous" (also when the session row is gone)."""
    name = request.user.username if request.user.is_authenticated else "anonymous"
    return HttpResponse(name, content_type="text/plain; charset=utf-8")


@csrf_exempt  # local demo only: see the module docstring
def cart(request):
    """GET: the cart as a list. POST item=...: append it to request.session["cart"]."""
    if request.method == "POST":
        item = request.POST.get("item", "").strip()[:100]
        if item:
            # A new list assigned, so the session is marked modified (in-place append would not be).
            request.session["cart"] = [*request.session.get("cart", []), item]
        return redirect_303("/cart")
    items = "".join(f"<li>{escape(str(item))}</li>" for item in request.session.get("cart", []))
    return page(
        "Django cart",
        f'<ul id="cart">{items}</ul>'
        '<form method="post" action="/cart"><input name="item"> <button id="add">add</button></form>',
    )


@csrf_exempt  # local demo only: see the module docstring
def password(request):
    """POST username=...&password=...: set that user's password, as a password reset would.

    Deliberately without update_session_auth_hash(): every session of the user, on both sides,
    now carries a stale _auth_user_hash and ends on its next request (Django's get_user(), and
    satchel's `authHash` option). No authentication at all: a demo, never a real endpoint.
    """
    if request.method != "POST":
        return HttpResponse("POST username and password", status=405, content_type="text/plain")
    user = User.objects.filter(username=request.POST.get("username", "")).first()
    if user is None:
        return HttpResponse("no such user", status=404, content_type="text/plain")
    user.set_password(request.POST.get("password", ""))
    user.save()
    return HttpResponse("changed", content_type="text/plain")
