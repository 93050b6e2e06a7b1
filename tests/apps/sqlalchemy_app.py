"""A WSGI app on SQLAlchemy and sqlite: SQLAlchemy 2.1's compiled modules refuse
OWN_GIL subinterpreters, so it is served in processes.

Runs in: the server under test (the process kind). The database is the file
SQLALCHEMY_DB names (shared by the processes) or memory.
"""

from __future__ import annotations

import json
import os

from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


engine = create_engine("sqlite:///" + os.environ.get("SQLALCHEMY_DB", ":memory:"))
try:
    Base.metadata.create_all(engine)
except OperationalError:  # another process created the table between check and create
    Base.metadata.create_all(engine)


def app(environ, start_response):
    with Session(engine) as session:
        if environ["REQUEST_METHOD"] == "POST":
            text = environ["wsgi.input"].read().decode()
            session.add(Note(text=text))
            session.commit()
        notes = [n.text for n in session.scalars(select(Note).order_by(Note.id))]
    body = json.dumps({"notes": notes, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
