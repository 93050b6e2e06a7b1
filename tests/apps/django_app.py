"""A single-module Django project on sqlite, configured in code.

Runs in: worker interpreters. The database file comes from the DJANGO_APP_DB
environment variable; the table is created at import time (each worker
interpreter imports this module, hence IF NOT EXISTS).
"""

from __future__ import annotations

import _interpreters
import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="subserve-tests-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    DATABASES={"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_APP_DB"],
        "OPTIONS": {"timeout": 20},
    }},
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpResponseNotAllowed, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

with connection.cursor() as cursor:
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "text TEXT NOT NULL, interp INTEGER NOT NULL)"
    )
connection.close()


def _all_notes() -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, text, interp FROM note ORDER BY id")
        return [{"id": i, "text": t, "interp": n} for i, t, n in cursor.fetchall()]


def notes(request):
    """GET lists the notes; POST (form field "text") adds one, then lists them."""
    if request.method == "POST":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO note (text, interp) VALUES (%s, %s)",
                           [request.POST["text"], _interpreters.get_current()[0]])
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return JsonResponse({"notes": _all_notes(), "interp": _interpreters.get_current()[0]})


urlpatterns = [path("notes", notes)]

app = get_wsgi_application()
