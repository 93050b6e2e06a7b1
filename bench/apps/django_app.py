"""A small Django project in one module: a view rendering a template (django_app:app).

Runs in: the server under test (for subserve: each worker interpreter).

`settings.configure` instead of a settings module, no database, no apps, no
middleware: the page still goes through Django's URL resolver, request and
response objects and template engine.
"""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

TITLE = "Django page"
ITEMS = [{"name": f"item {i}", "price": f"{i * 1.25:.2f}"} for i in range(20)]

settings.configure(
    DEBUG=False,
    # Any Host header: wrk and the check request send 127.0.0.1:PORT.
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="bench-only-not-secret",
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(Path(__file__).parent / "templates")],
        }
    ],
)
django.setup()


def page(request: HttpRequest) -> HttpResponse:
    context = {"title": TITLE, "items": ITEMS, "footer": "<rendered by Django>"}
    return render(request, "page.html", context)


urlpatterns = [path("", page)]

# Imported after setup(): the handler reads the settings when it is built.
from django.core.wsgi import get_wsgi_application  # noqa: E402

app = get_wsgi_application()
